"""SQLModel tables, API schemas and the storage engine."""
