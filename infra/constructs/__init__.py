"""The stack's constructs, one job each; infra/stack.py composes them."""
