"""The bootstrap shared by every faultlab server process."""
