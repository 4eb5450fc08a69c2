"""The API's list filters: the filter types every app's FilterSets are built from, the
ordering backend, and the audit log's FilterSet.

One rule for all of them: a value that cannot be one (a status that does not exist, an id
that is not a number, a time that is not a time) is a 400 under the parameter's name; a
well-formed value that matches nothing, such as another trader's portfolio id, is an empty
list, never a hint that the object exists.
"""

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from rest_framework import filters as drf_filters

from tradingsite.models import AuditEvent

TIME_WORDS = "an ISO 8601 time, e.g. 2026-11-21T12:00Z"
YES, NO = ("true", "1", "yes"), ("false", "0", "no")
BIGGEST_ID = 2**63 - 1  # a bigint column's; a larger number cannot reach the database


class _FoldedChoiceField(forms.ChoiceField):
    """A choice given in any case (`filled`, `FILLED`), cleaned to the case it is stored in."""

    def to_python(self, value):
        value = super().to_python(value).strip()
        return {str(key).lower(): key for key, _ in self.choices}.get(value.lower(), value)


class FoldedChoiceFilter(filters.ChoiceFilter):
    """One of `choices`, in any case; another value is a 400 that lists them."""

    field_class = _FoldedChoiceField

    def __init__(self, *args, choices, **kwargs):
        words = "must be one of " + ", ".join(str(key) for key, _ in choices)
        kwargs.setdefault("error_messages", {"invalid_choice": words})
        super().__init__(*args, choices=choices, **kwargs)


class FoldedCharFilter(filters.CharFilter):
    """Free text compared in the case it is stored in: symbols and assets upper case."""

    def __init__(self, *args, fold=str.upper, **kwargs):
        super().__init__(*args, **kwargs)
        self.fold = fold

    def filter(self, qs, value):
        return super().filter(qs, self.fold(value) if value else value)


class IdFilter(filters.Filter):
    """?<name>=<id>. The view's queryset is already the caller's own, so someone else's id
    finds nothing, exactly as an unknown one does."""

    field_class = forms.IntegerField

    def __init__(self, *args, noun: str, **kwargs):
        words = f"must be {noun} id"
        kwargs.setdefault("help_text", f"{noun} id (yours)")
        kwargs["error_messages"] = dict.fromkeys(("invalid", "min_value", "max_value"), words)
        super().__init__(*args, min_value=1, max_value=BIGGEST_ID, **kwargs)


class _TimeField(IsoDateTimeField):
    """An ISO 8601 time, UTC when it names no zone, as UTC (a time near year 1 or 9999 that
    cannot be converted is refused here, not by the database driver)."""

    def to_python(self, value):
        moment = super().to_python(value)
        try:
            return moment.astimezone(UTC) if moment else moment
        except OverflowError as error:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from error


class TimeFilter(filters.IsoDateTimeFilter):
    """A time bound (`lookup_expr` gte or lte), refused in words when it is not a time."""

    field_class = _TimeField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("error_messages", {"invalid": TIME_WORDS})
        super().__init__(*args, **kwargs)


class _YesNoField(forms.Field):
    def to_python(self, value):
        words = (value or "").strip().lower()
        if not words:
            return None
        if words not in YES + NO:
            raise ValidationError("must be true or false", code="invalid")
        return words in YES


class YesNoFilter(django_filters.BooleanFilter):  # not DRF's: its widget drops "maybe" unread
    """true/false (also 1/0, yes/no); anything else is a 400, not silently ignored."""

    field_class = _YesNoField


class OrderingFilter(drf_filters.OrderingFilter):
    """DRF's ?ordering=, on the fields a view names in `ordering_fields` only (none when it
    names none: never every serializer field, some of which are not columns). Without it a
    list keeps its own order."""

    ordering_fields = ()

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering or {"id", "-id", "pk", "-pk"} & set(ordering):
            return ordering
        # Rows tied on the chosen fields would otherwise swap places between two pages.
        return [*ordering, "-pk" if ordering[0].startswith("-") else "pk"]

    def get_schema_operation_parameters(self, view):
        names = getattr(view, "ordering_fields", ())
        if not names:
            return []
        words = (f"Order by {', '.join(f'`{name}`' for name in names)}: a `-` before a "
                 f"field reverses it (`-{names[0]}`), a comma separates several. Other "
                 "fields are ignored; without ordering the list keeps its usual order.")
        return [{**parameter, "description": words}
                for parameter in super().get_schema_operation_parameters(view)]


class AuditEventFilter(filters.FilterSet):
    action = FoldedChoiceFilter(choices=AuditEvent.Action.choices, help_text="what was done")

    class Meta:
        model = AuditEvent
        fields = ("action",)
