"""The service as gunicorn serves it, with the sample diagram's operators (for bench/http_layer.py)."""
import tests.sample_operators  # noqa: F401  registers sample.collect, sample.score
from app import create_app

app = create_app()
