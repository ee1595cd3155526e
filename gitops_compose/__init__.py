"""gitops-compose: keeps one Docker host's Compose stacks in step with a git repository."""

__version__ = "0.1.0"
