"""Domain services: keyword-only functions taking the DB session first; pure rules kept apart."""
