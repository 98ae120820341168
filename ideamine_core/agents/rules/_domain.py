"""Domain vocabulary shared by the offline rules: categories and entities with their fields."""

from __future__ import annotations

from collections.abc import Iterable

from ideamine_core.agents.rules._text import singular, tokens

FieldSpec = tuple[str, str, bool]
"""(field name, type, required)."""

CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("productivity", ("todo", "task", "note", "project", "calendar", "checklist", "kanban")),
    ("communication", ("chat", "message", "messaging", "forum", "community", "social")),
    ("commerce", ("shop", "store", "marketplace", "checkout", "ecommerce", "product", "order")),
    ("health", ("health", "fitness", "workout", "habit", "sleep", "diet", "meditation")),
    ("education", ("course", "lesson", "learn", "learning", "quiz", "school", "tutor")),
    ("finance", ("budget", "expense", "finance", "invoice", "bank", "spending")),
    ("events", ("event", "booking", "reservation", "appointment", "ticket", "meetup")),
)
"""Category name and the (singular) trigger words, in priority order."""

_LEXICON: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("todo", "to-do", "task", "checklist", "chore"), ("Task", "TaskList")),
    (("note", "notebook", "journal"), ("Note", "Notebook")),
    (("chat", "message", "messaging", "conversation"), ("Message", "Channel")),
    (("shop", "store", "ecommerce", "marketplace", "product", "order"), ("Product", "Order")),
    (("recipe", "meal", "cooking"), ("Recipe", "Ingredient")),
    (("event", "meetup", "calendar"), ("Event", "Attendee")),
    (("booking", "reservation", "appointment"), ("Booking", "Slot")),
    (("habit", "streak"), ("Habit", "CheckIn")),
    (("expense", "budget", "finance", "spending"), ("Expense", "Budget")),
    (("blog", "post", "article"), ("Post", "Comment")),
    (("course", "lesson", "learning", "quiz"), ("Course", "Lesson")),
    (("workout", "fitness", "exercise", "gym"), ("Workout", "Exercise")),
    (("ticket", "helpdesk", "issue", "bug"), ("Ticket", "Comment")),
    (("inventory", "warehouse", "stock"), ("StockItem", "Location")),
    (("project", "milestone", "kanban"), ("Project", "Milestone")),
    (("book", "library", "reading"), ("Book", "Loan")),
)
"""Trigger words (singular) and the entities they imply, primary first."""

_USER_WORDS = frozenset({"user", "member", "account", "profile", "teammate", "team"})

FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "Task": (
        ("title", "string", True),
        ("done", "boolean", True),
        ("due_date", "datetime", False),
        ("list_id", "string", False),
    ),
    "TaskList": (("name", "string", True), ("owner_id", "string", False)),
    "User": (("email", "string", True), ("display_name", "string", True)),
    "Note": (
        ("title", "string", True),
        ("body", "string", False),
        ("notebook_id", "string", False),
    ),
    "Notebook": (("name", "string", True),),
    "Message": (
        ("text", "string", True),
        ("channel_id", "string", True),
        ("sent_at", "datetime", False),
    ),
    "Channel": (("name", "string", True), ("topic", "string", False)),
    "Product": (("name", "string", True), ("price", "number", True), ("stock", "integer", False)),
    "Order": (
        ("product_id", "string", True),
        ("quantity", "integer", True),
        ("status", "string", False),
    ),
    "Recipe": (("title", "string", True), ("servings", "integer", False)),
    "Ingredient": (
        ("name", "string", True),
        ("recipe_id", "string", True),
        ("amount", "string", False),
    ),
    "Event": (
        ("title", "string", True),
        ("starts_at", "datetime", True),
        ("location", "string", False),
    ),
    "Attendee": (("name", "string", True), ("event_id", "string", True)),
    "Booking": (
        ("slot_id", "string", True),
        ("customer", "string", True),
        ("confirmed", "boolean", False),
    ),
    "Slot": (("starts_at", "datetime", True), ("capacity", "integer", True)),
    "Habit": (("name", "string", True), ("target_per_week", "integer", False)),
    "CheckIn": (("habit_id", "string", True), ("day", "datetime", True)),
    "Expense": (
        ("amount", "number", True),
        ("category", "string", True),
        ("budget_id", "string", False),
    ),
    "Budget": (("name", "string", True), ("limit", "number", True)),
    "Post": (("title", "string", True), ("body", "string", True), ("published", "boolean", False)),
    "Comment": (("text", "string", True), ("author", "string", False)),
    "Course": (("title", "string", True), ("level", "string", False)),
    "Lesson": (
        ("title", "string", True),
        ("course_id", "string", True),
        ("position", "integer", False),
    ),
    "Workout": (("name", "string", True), ("duration_minutes", "integer", False)),
    "Exercise": (
        ("name", "string", True),
        ("workout_id", "string", False),
        ("repetitions", "integer", False),
    ),
    "Ticket": (
        ("title", "string", True),
        ("status", "string", True),
        ("priority", "string", False),
    ),
    "StockItem": (
        ("sku", "string", True),
        ("quantity", "integer", True),
        ("location_id", "string", False),
    ),
    "Location": (("name", "string", True),),
    "Project": (("name", "string", True), ("archived", "boolean", False)),
    "Milestone": (
        ("title", "string", True),
        ("project_id", "string", True),
        ("due_date", "datetime", False),
    ),
    "Book": (("title", "string", True), ("author", "string", True), ("isbn", "string", False)),
    "Loan": (
        ("book_id", "string", True),
        ("borrower", "string", True),
        ("due_date", "datetime", False),
    ),
    "Item": (("name", "string", True), ("description", "string", False)),
}
"""Field templates per entity; unknown entities get a name/description pair."""

DEFAULT_FIELDS: tuple[FieldSpec, ...] = (("name", "string", True), ("description", "string", False))
"""Fields of an entity the vocabulary does not know."""


def category_of(texts: Iterable[str]) -> str:
    """The category with the most trigger words in `texts` (ties: table order), or 'general'."""
    words = [singular(t) for text in texts for t in tokens(text)]
    best, best_hits = "general", 0
    for name, triggers in CATEGORIES:
        hits = sum(1 for w in words if w in triggers)
        if hits > best_hits:
            best, best_hits = name, hits
    return best


def entity_names(texts: Iterable[str], with_user: bool, limit: int = 4) -> list[str]:
    """Entities implied by `texts`: lexicon matches by first mention, 'User' if wanted.

    Falls back to 'Item' when nothing matches, so a model always has an entity.
    """
    words = [singular(t) for text in texts for t in tokens(text)]
    found: list[str] = []
    for word in words:
        for triggers, names in _LEXICON:
            if word in triggers:
                found.extend(n for n in names if n not in found)
        if word in _USER_WORDS:
            with_user = True
    if not found:
        found = ["Item"]
    found = found[: max(1, limit - 1)]
    if with_user and "User" not in found:
        found.append("User")
    return found


def fields_of(entity: str) -> tuple[FieldSpec, ...]:
    """The field template of an entity."""
    return FIELDS.get(entity, DEFAULT_FIELDS)
