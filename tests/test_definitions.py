"""Deploying diagrams: versions by content, and every kind of diagram deploy must refuse."""
import pytest

from engine import definitions, instances, tasks
from engine.definitions import DeployError
from tests.conftest import SAMPLE_BPMN, SAMPLE_FORMS, deploy_sample

SAMPLE = SAMPLE_BPMN.read_bytes()
FORMS = {"review.schema.json": (SAMPLE_FORMS / "review.schema.json").read_bytes()}


def refusal(app, bpmn: bytes, forms=None):
    with pytest.raises(DeployError) as caught:
        definitions.deploy("changed.bpmn", bpmn, FORMS if forms is None else forms, app.config, actor="test")
    assert definitions.latest("sample_review") is None, "a refused diagram stores nothing"
    return {(p.element_id, p.reason) for p in caught.value.problems}


def reasons_for(problems, element_id):
    return [reason for element, reason in problems if element == element_id]


def test_first_deploy_is_version_one_and_an_unchanged_file_deploys_nothing(app):
    first = deploy_sample(app)
    again = deploy_sample(app)
    assert [(r.process_id, r.version, r.created) for r in first] == [("sample_review", 1, True)]
    assert [(r.process_id, r.version, r.created) for r in again] == [("sample_review", 1, False)]


def test_a_changed_file_becomes_version_two(app):
    deploy_sample(app)
    changed = SAMPLE.replace(b'name="Review the request"', b'name="Review the request again"')
    result = definitions.deploy("sample.bpmn", changed, FORMS, app.config, actor="test")
    assert [(r.version, r.created) for r in result] == [(2, True)]
    assert definitions.latest("sample_review").version == 2


def test_a_changed_form_alone_makes_a_new_version(app):
    deploy_sample(app)
    form = FORMS["review.schema.json"].replace(b'"maxLength": 2000', b'"maxLength": 500')
    result = definitions.deploy("sample.bpmn", SAMPLE, {"review.schema.json": form}, app.config)
    assert result[0].version == 2


def test_running_instance_finishes_on_the_version_it_started_with(app):
    deploy_sample(app)
    officer = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))
    old = instances.start("sample_review", {"subject": "old", "scores": {"a": 1, "b": 2, "c": 3},
                                            "region": "AST"})
    changed = SAMPLE.replace(b'name="Review the request"', b'name="Second look"')
    definitions.deploy("sample.bpmn", changed, FORMS, app.config)
    new = instances.start("sample_review", {"subject": "new", "scores": {"a": 1, "b": 2, "c": 3},
                                            "region": "AST"})
    old_task, new_task = (tasks.queue(officer, process_id="sample_review", limit=10)[i] for i in (0, 1))
    by_instance = {t.instance_id: t for t in (old_task, new_task)}
    assert by_instance[old.id].name == "Review the request"
    assert by_instance[new.id].name == "Second look"
    tasks.claim(by_instance[old.id].id, officer)
    tasks.complete(by_instance[old.id].id, officer, {"decision": "approve"})
    finished = instances.get(old.id)
    assert finished.status == "completed"
    assert definitions.get(finished.definition_id).version == 1


def test_specs_are_parsed_once_per_version(app, monkeypatch):
    deploy_sample(app)
    definitions._SPEC_CACHE.clear()
    parsed = []
    real = definitions.EngineParser.add_bpmn_str
    monkeypatch.setattr(definitions.EngineParser, "add_bpmn_str",
                        lambda self, xml, *a, **k: parsed.append("sample_review") or real(self, xml, *a, **k))
    for _ in range(3):
        instances.start("sample_review", {"subject": "x", "scores": {"a": 1, "b": 1, "c": 1}})
    assert parsed == ["sample_review"]


def test_xml_that_is_not_well_formed_is_refused(app):
    problems = refusal(app, b"<bpmn:definitions><unclosed></bpmn:definitions>")
    assert any("not well-formed XML" in reason for _, reason in problems)


@pytest.mark.parametrize("entities, used, reason", [
    (b'<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">', b"&b;",
     "a DOCTYPE (and so entity declarations) is not allowed in a diagram"),
    (b'<!ENTITY x SYSTEM "file:///etc/passwd">', b"&x;", "references external entity"),
])
def test_a_diagram_declaring_entities_is_refused_before_any_parser_expands_them(app, entities, used, reason):
    body = SAMPLE.split(b"?>", 1)[1].replace(b'name="Request received"', b'name="' + used + b'"')
    problems = refusal(app, b'<?xml version="1.0"?><!DOCTYPE d [' + entities + b']>' + body)
    assert len(problems) == 1 and reason in next(iter(problems))[1]


def test_xml_that_breaks_the_bpmn_schema_is_refused(app):
    broken = SAMPLE.replace(b'<bpmn:startEvent id="start" name="Request received">',
                            b'<bpmn:startEvent id="start" name="Request received" colour="red">')
    problems = refusal(app, broken)
    assert problems and any("colour" in reason for _, reason in problems)


def test_a_flow_node_without_a_diagram_shape_is_refused(app):
    broken = SAMPLE.replace(b'<bpmndi:BPMNShape id="review_di" bpmnElement="review">'
                            b'<dc:Bounds x="605" y="335" width="100" height="80" /></bpmndi:BPMNShape>', b"")
    problems = refusal(app, broken)
    assert reasons_for(problems, "review") == ["userTask has no diagram shape (BPMNShape)"]


def test_a_flow_without_a_diagram_edge_is_refused(app):
    broken = SAMPLE.replace(b'<bpmndi:BPMNEdge id="f13_di" bpmnElement="f13"><di:waypoint x="860" y="240" />'
                            b'<di:waypoint x="900" y="240" /></bpmndi:BPMNEdge>', b"")
    problems = refusal(app, broken)
    assert reasons_for(problems, "f13") == ["sequence flow has no diagram edge (BPMNEdge)"]


def test_a_service_task_operator_no_handler_registers_is_refused(app):
    broken = SAMPLE.replace(b'id="sample.record"', b'id="sample.nobody_handles_this"')
    problems = refusal(app, broken)
    assert reasons_for(problems, "record") == ["no handler is registered for operator 'sample.nobody_handles_this'"]


def test_a_lane_with_a_user_task_that_maps_to_no_role_is_refused(app):
    broken = SAMPLE.replace(b'name="Officer"', b'name="Night watch"')
    problems = refusal(app, broken)
    assert len(reasons_for(problems, "Lane_officer")) == 1
    assert "maps to no role" in reasons_for(problems, "Lane_officer")[0]


def test_a_form_file_that_does_not_exist_is_refused(app):
    broken = SAMPLE.replace(b'value="review.schema.json"', b'value="missing.schema.json"')
    problems = refusal(app, broken, forms={})
    assert reasons_for(problems, "review") == ["form file 'missing.schema.json' does not exist"]


def test_a_form_path_outside_the_forms_folder_is_refused(app):
    broken = SAMPLE.replace(b'value="review.schema.json"', b'value="../../etc/passwd"')
    problems = refusal(app, broken, forms={})
    assert reasons_for(problems, "review") == ["form file '../../etc/passwd' must be a plain file name"]


def test_an_unsafe_gateway_condition_is_refused(app):
    broken = SAMPLE.replace(b"score_a + score_b + score_c &lt; 0",
                            b"().__class__.__base__.__subclasses__() == []")
    problems = refusal(app, broken)
    assert reasons_for(problems, "f10"), problems


def test_every_problem_is_reported_at_once(app):
    broken = (SAMPLE.replace(b'id="sample.record"', b'id="nobody.handles"')
              .replace(b'name="Officer"', b'name="Night watch"'))
    problems = refusal(app, broken)
    assert {element for element, _ in problems} >= {"record", "Lane_officer"}


def test_deploy_from_the_command_line_reports_versions_and_refusals(app, tmp_path):
    runner = app.test_cli_runner()
    good = tmp_path / "sample.bpmn"
    good.write_bytes(SAMPLE)
    result = runner.invoke(args=["processes", "deploy", str(good)])
    assert result.exit_code == 0, result.output
    assert "sample_review version 1 deployed" in result.output
    result = runner.invoke(args=["processes", "deploy", str(good)])
    assert "sample_review version 1 unchanged" in result.output
    bad = tmp_path / "bad.bpmn"
    bad.write_bytes(SAMPLE.replace(b'id="sample.record"', b'id="nobody.handles"'))
    result = runner.invoke(args=["processes", "deploy", str(bad)])
    assert result.exit_code == 1
    assert "record: no handler is registered for operator 'nobody.handles'" in result.output


def test_health_reports_the_database_and_deployed_definitions(app, client):
    deploy_sample(app)
    body = client.get("/health").get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["definitions"] == [{"process_id": "sample_review", "version": 1}]
