"""The voice channel (语音, R-6.2): a feature-phone caller presses keys and hears their grade, what
it brings, the next instalment and a tip, spoken offline by espeak-ng; also the pages' "read
aloud" button."""
