"""The release dossier: compile a run into a Dossier and render it as JSON, Markdown or HTML."""

from ideamine_core.dossier.compiler import EXPECTED, compile_dossier, compile_from_folder
from ideamine_core.dossier.ledger_inputs import ledger_inputs
from ideamine_core.dossier.model import Dossier, DossierInputs
from ideamine_core.dossier.render import FORMATS, render, write_dossier
from ideamine_core.dossier.sources import load_run_folder

__all__ = [
    "EXPECTED",
    "FORMATS",
    "Dossier",
    "DossierInputs",
    "compile_dossier",
    "compile_from_folder",
    "ledger_inputs",
    "load_run_folder",
    "render",
    "write_dossier",
]
