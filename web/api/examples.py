"""Example request bodies: valid, shown in the OpenAPI document and tried first by fuzzers."""

APPLICATION = {
    "kind": "issue", "application_no": "EGOV-2026-000123", "channel": "egov", "region": "AST",
    "applicant": {"iin": "900312300014", "last_name": "Karimov", "first_name": "Aziz", "patronymic": None,
                  "citizenship": "UZ", "birth_date": "1990-03-12", "passport_no": "FA1234567",
                  "passport_expiry": "2030-05-31", "entry_date": "2026-01-10"},
    "employer": {"iin": "750705400014", "full_name": "Aigerim Nurlanovna Sadykova",
                 "address": "Astana, Mangilik El 10, apt 5"},
    "period": {"months": 6, "start_date": "2027-02-01"},
    "tax_payment": {"receipt_no": "KGD-778899", "amount_kzt": 103800, "paid_at": "2026-01-12T10:15:00+05:00",
                    "payer_iin": "900312300014"},
    "documents": [
        {"type": "identity_document", "number": "FA1234567", "issued_at": "2020-05-31", "valid_until": "2030-05-31"},
        {"type": "medical_certificate", "number": "MC-5521", "issued_at": "2026-01-11", "valid_until": "2027-01-11"},
        {"type": "medical_insurance", "number": "INS-90-1", "issued_at": "2026-01-11", "valid_until": "2027-01-11"},
        {"type": "fingerprint_certificate", "number": "FP-3310", "issued_at": "2026-01-11", "valid_until": None},
        {"type": "tax_receipt", "number": "KGD-778899", "issued_at": "2026-01-12", "valid_until": None},
    ],
}
WITHDRAWAL = {"reason": "The applicant found another employer."}
REVOCATION = {"ground": "false_documents", "details": "The medical certificate was forged.",
              "initiator": {"type": "police", "id": "DVD-AST-17"}}
POLICE_REPLY = {"message_id": "ismp-2026-000981", "correlation": "3f1c2b9e-8a47-4d2e-9c1a-5b6d7e8f9a01",
                "payload": {"verdict": "approve", "reason": None}}
EMPLOYER_CONSENT = {"message_id": "egov-sign-44120", "correlation": "3f1c2b9e-8a47-4d2e-9c1a-5b6d7e8f9a01",
                    "payload": {"decision": "consent", "signed_at": "2026-01-12T11:00:00+05:00"}}
CONTRACT_TERMINATED = {"message_id": "esutd-77120", "correlation": "AST-2026-000042",
                       "payload": {"terminated_on": "2026-03-01", "contract_no": "TD-778",
                                   "employer_iin": "750705400014", "details": None}}
START_INSTANCE = {"process_id": "sample_review", "business_key": "REQ-1",
                  "data": {"region": "AST", "subject": "a request", "scores": {"a": 1, "b": 2, "c": 3}}}
# The permit decision form (processes/forms/decision.schema.json), as an officer issues a permit.
COMPLETE_TASK = {"data": {"data_matches": True, "decision": "issue",
                          "comment": "The application matches the identity document."}}
UNCLAIM_TASK = {"reassign_to": None}
