"""Gathers facts (git, docker, clock) and carries out the core's plans."""
