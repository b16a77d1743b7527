"""The music task (folk tunes in ABC) and what serves it alone: sampling tunes under the bar
rules, MIDI files."""
