"""The CLI's commands, one module per group; ``app_integrity.cli`` assembles them."""
