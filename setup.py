"""IdeaMine: turn a product idea into a release-ready package, orchestrated by Dagster."""

from setuptools import find_packages, setup

DAGSTER = "1.13.27"  # dagster 1.13.N pairs with its libraries 0.29.N; pin the set together
DAGSTER_LIBS = "0.29.27"

setup(
    name="ideamine",
    version="0.1.0",
    description="Turn a product idea into a release-ready package, autonomously, on Dagster.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=find_packages(
        include=["ideamine_core", "ideamine_core.*", "ideamine_dagster", "ideamine_dagster.*"]
    ),
    package_data={
        "ideamine_core": [
            "templates/*",
            "agents/prompts/*",
            "storage/migrations/*",
            "storage/migrations/versions/*",
            "dossier/templates/*",
        ]
    },
    include_package_data=True,
    install_requires=[
        f"dagster=={DAGSTER}",
        f"dagster-webserver=={DAGSTER}",
        f"dagster-postgres=={DAGSTER_LIBS}",
        "pydantic>=2.7,<3",
        "SQLAlchemy>=2.0.30,<2.1",
        "redis>=5.0,<7",
        "pandas>=2.1,<3",
        "PyYAML>=6.0,<7",
        "typer>=0.12,<1",
        "rich>=13.7,<15",
        "Jinja2>=3.1,<4",
        "psutil>=5.9,<8",
        "alembic>=1.13,<2",
        "psycopg[binary]>=3.2,<4",
        "tenacity>=9.0,<10",
        "pydantic-ai-slim[openai,anthropic]>=2.68,<3",
        "genai-prices>=0.2.3,<0.3",
        "opentelemetry-api>=1.30,<2",
        "opentelemetry-sdk>=1.30,<2",
        # the QA and security phases run these on the generated workspace
        "pytest>=8,<10",
        "coverage>=7.6,<8",
        "bandit>=1.8,<2",
        "detect-secrets>=1.5,<2",
        "cyclonedx-bom>=7.0,<8",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-timeout>=2.3,<3",
            "pytest-xdist>=3.6,<4",
            "ruff>=0.6,<1",
            "psutil>=5.9,<8",
            "openapi-spec-validator>=0.7,<0.10",
            "hypothesis>=6.100,<7",
            "time-machine>=2.14,<4",
            "pytest-httpserver>=1.1,<2",
            f"dagster-k8s=={DAGSTER_LIBS}",  # the deployment config in deploy/k8s is validated by tests
            "opentelemetry-exporter-otlp-proto-http>=1.30,<2",  # IDEAMINE_OTEL_EXPORTER=otlp is tested
        ],
        "k8s": [f"dagster-k8s=={DAGSTER_LIBS}"],
        "otlp": ["opentelemetry-exporter-otlp-proto-http>=1.30,<2"],
    },
    entry_points={"console_scripts": ["ideamine=ideamine_dagster.cli.app:main"]},
)
