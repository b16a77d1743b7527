"""The text-to-text tasks on one base (``base.TextToTextTask``): translate, summarize, chat."""
