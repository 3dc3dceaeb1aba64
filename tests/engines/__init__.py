"""Tests of sightd in front of real upstream inference servers."""
