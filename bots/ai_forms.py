"""The trader's note about a symbol. ``bots.ai.note_add`` decides what a note may be (not
empty, a score from -1 to 1); the form only reads the fields and puts its refusal, in words,
next to the field it is about."""

from django import forms

from bots.ai import AnalysisRefused


class NoteForm(forms.Form):
    # Not required here: an empty note is refused by note_add, so the words come from one place.
    text = forms.CharField(
        label="Note", required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What you see, in a sentence"}))
    score = forms.FloatField(
        label="Score", required=False,
        help_text="optional: -1 (bearish) to 1 (bullish); empty scores the words",
        widget=forms.NumberInput(attrs={"step": "any", "min": "-1", "max": "1",
                                        "inputmode": "decimal", "autocomplete": "off"}))

    def add_refusal(self, refused: AnalysisRefused) -> None:
        # note_add checks the text before the score: with text written, it was the score.
        field = "score" if self.cleaned_data.get("text", "").strip() else "text"
        self.add_error(field, str(refused))
