"""Post-deploy verification: scheduled probes for the first hour, day and week, and their verdicts."""
