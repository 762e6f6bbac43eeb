"""Farmers' channels (农户触达渠道, R-6.2): SMS commands in and out through the notifications
capability, and sign-in by a one-time code sent to the phone on file."""
