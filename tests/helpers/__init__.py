"""Test setup written once and shared by every test that needs it."""
