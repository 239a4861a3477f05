"""Repository upkeep, not user commands: the README's generated sections, image requirements, pin checks."""
