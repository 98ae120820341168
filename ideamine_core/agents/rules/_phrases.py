"""Phrasing templates of the prd rules: story wording, acceptance criteria and flow steps."""

from __future__ import annotations

from ideamine_core.agents.outputs._base import Action

STORY_TEMPLATES: dict[Action, tuple[str, str, tuple[str, str]]] = {
    "create": (
        "to capture a new {e} with its details",
        "nothing gets forgotten",
        (
            "Given I am on the {es} screen, when I submit {a_e} with every required field, "
            "then it is saved and shown with its id",
            "Given {a_e} was saved, when I reload the {es} screen, then it is still there",
        ),
    ),
    "validate": (
        "to be told clearly when {a_e} is incomplete or malformed",
        "I can fix mistakes immediately",
        (
            "Given {a_e} without its required fields, when I submit it, then it is rejected "
            "with an error naming the missing fields",
            "Given {a_e} with an unknown field, when I submit it, then it is rejected with an "
            "error listing the allowed fields",
        ),
    ),
    "list": (
        "to see all {es} in one place",
        "I know what to do next",
        (
            "Given two {es} exist, when I open the {es} screen, then both are listed",
            "Given no {es} exist, when I open the {es} screen, then I see how to add one",
        ),
    ),
    "update": (
        "to change the details or progress of {a_e}",
        "the {e} reflects reality",
        (
            "Given an existing {e}, when I change a field and save, then the new value is shown",
            "Given {a_e} that does not exist, when I update it, then I get a not-found error",
        ),
    ),
    "delete": (
        "to remove {a_e} that is no longer needed",
        "my view stays focused",
        (
            "Given an existing {e}, when I delete it, then it no longer appears",
            "Given a deleted {e}, when I open it by id, then I get a not-found error",
        ),
    ),
    "collaborate": (
        "to share {a_c} with others",
        "we work from one source of truth",
        (
            "Given I shared {a_c}, when a teammate opens it, then they see the same content",
            "Given a shared {c} changes, when the change is saved, then it is in the change feed",
        ),
    ),
    "realtime": (
        "to see {es} changed by others without reloading",
        "I never act on stale information",
        (
            "Given a teammate changes {a_e}, when the change is saved, then it reaches me within 1 second",
            "Given I last synced at some version, when I ask for newer changes, then I get only "
            "the changes after that version",
        ),
    ),
    "offline": (
        "to create and edit {es} without a connection",
        "I can keep working anywhere",
        (
            "Given I have no connection, when I create {a_e}, then it is kept on my device",
            "Given local changes exist, when the connection returns, then they are replayed and "
            "both copies match",
        ),
    ),
}
"""Per action: (i_want, so_that, two Given/When/Then criteria); {e}, {es}, {c} are filled in."""


FLOW_STEPS: dict[str, tuple[str, ...]] = {
    "create": (
        "Open the {es} screen",
        "Choose 'New {e}'",
        "Fill in {fields}",
        "Save",
        "See the new {e} with a confirmation",
    ),
    "list": ("Open the {es} screen", "Filter or search", "Open the {e} you need"),
    "update": ("Open {a_e}", "Edit {fields}", "Save", "See the updated {e}"),
    "delete": ("Open {a_e}", "Choose 'Delete'", "Confirm", "See it removed, with 'Undo'"),
    "collaborate": ("Open {a_e}", "Choose 'Share'", "Pick teammates", "See who has access"),
    "realtime": (
        "Keep the {es} screen open",
        "A teammate edits {a_e}",
        "See the change appear, highlighted briefly",
    ),
    "offline": (
        "Lose the connection",
        "See the offline badge",
        "Keep editing {es}",
        "Reconnect",
        "See 'All changes synced'",
    ),
}
"""Per action: the steps of a UX flow; {e}, {es}, {fields} and {title} are filled in."""
