"""The fuzz tests' Hypothesis profile is loaded before any of them is collected."""

from tests.fuzz import profile  # noqa: F401 - registers and loads the profile
