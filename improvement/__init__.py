"""Improvement Backlog: customer problems, the improvements they call for, and the quarterly review."""
