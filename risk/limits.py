"""Changing risk limits: every save and delete, from the admin, a page or the API, goes through
here and leaves a RiskLimitChange with who, when, and each field's old and new value."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from risk.models import LIMIT_FIELDS, RiskLimit, RiskLimitChange
from tradingsite import audit

AUDITED = ("owner_id", "portfolio_id", "bot_id", "symbol", *LIMIT_FIELDS, "on_breach", "note")


def _value(value):
    """A JSON-friendly value: Decimals as plain strings without trailing zeros."""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return value


def _snapshot(limit: RiskLimit) -> dict:
    return {name: _value(getattr(limit, name)) for name in AUDITED}


PERCENTAGES = ("max_daily_loss_pct", "max_drawdown_pct")


def risk_limit_validate(limit: RiskLimit) -> None:
    """ValidationError in words: a limit must set something, no value may be negative (nor a
    percentage above 100), and the scope's owner, portfolio and bot must agree (a limit
    whose scope can never match would protect nothing while looking as if it did)."""
    values = limit.limit_values()
    if all(value is None for value in values.values()):
        raise ValidationError("set at least one limit")
    errors = {name: "must not be negative" for name, value in values.items()
              if value is not None and value < 0}
    errors |= {name: "a percentage cannot exceed 100" for name in PERCENTAGES
               if values[name] is not None and values[name] > 100}
    errors |= _scope_errors(limit)
    if errors:
        raise ValidationError(errors)
    limit.symbol = limit.symbol.strip().upper()
    limit.full_clean(exclude=["owner", "portfolio", "bot", "updated_by"])


def _scope_errors(limit: RiskLimit) -> dict:
    errors = {}
    if limit.bot_id and limit.portfolio_id and limit.bot.portfolio_id != limit.portfolio_id:
        errors["bot"] = "this bot trades in another portfolio"
    if limit.owner_id and limit.portfolio_id and limit.portfolio.owner_id != limit.owner_id:
        errors["portfolio"] = "this portfolio belongs to another user"
    if limit.owner_id and limit.bot_id and limit.bot.portfolio.owner_id != limit.owner_id:
        errors["bot"] = "this bot belongs to another user"
    return errors


@transaction.atomic
def risk_limit_save(*, limit: RiskLimit, by) -> RiskLimit:
    """Create or change a limit, recording what changed (nothing changed: nothing recorded)."""
    risk_limit_validate(limit)
    before = {}
    if limit.pk is not None:
        stored = RiskLimit.objects.select_for_update().filter(pk=limit.pk).first()
        if stored is None:
            raise ValidationError("this limit was deleted meanwhile")
        before = _snapshot(stored)
    limit.updated_by = by
    limit.save()
    after = _snapshot(limit)
    changes = {name: [before.get(name), value] for name, value in after.items()
               if before.get(name) != value and (before or value not in (None, ""))}
    if changes:
        RiskLimitChange.objects.create(
            limit=limit, scope=limit.scope_label, changes=changes, changed_by=by,
            action=RiskLimitChange.Action.CHANGED if before else RiskLimitChange.Action.CREATED)
        audit.record_limit(audit.Action.LIMIT_CHANGED if before else audit.Action.LIMIT_CREATED,
                           limit, by=by, changes=changes)
    return limit


@transaction.atomic
def risk_limit_delete(*, limit: RiskLimit, by) -> None:
    limit = RiskLimit.objects.select_for_update().filter(pk=limit.pk).first()
    if limit is None:
        return  # deleted meanwhile: that deletion was recorded
    before = _snapshot(limit)
    RiskLimitChange.objects.create(
        limit=limit, scope=limit.scope_label, action=RiskLimitChange.Action.DELETED,
        changes={name: [value, None] for name, value in before.items() if value is not None},
        changed_by=by)
    audit.record_limit(audit.Action.LIMIT_DELETED, limit, by=by, changes=before)
    limit.delete()
