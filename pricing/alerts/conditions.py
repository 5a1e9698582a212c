"""Each kind's condition as one SQL expression over a ProductSnapshot row: True, False, or NULL
when the data cannot say (no offers, no earlier snapshot to compare to). NULL is never a change:
it leaves a rule's state as it was.

The live evaluation annotates the batch's new snapshots, joined to their products' rules, with
the rules' columns as parameters; the back-test annotates a product's snapshots with the edited
rule's values as constants. Both build their expressions here, so what the back-test counts is
what the evaluation would have fired.

Conditions:
- price_below / price_above: the figure against the threshold;
- price_move: the figure against the figure of the last snapshot at or before `window` ago, by
  an amount or a percentage of that earlier figure;
- cheapest_changed: the cheapest offer's id against the previous snapshot's;
- out_of_stock / back_in_stock / stock_below: the total stock;
- offer events: the snapshot's counts of what changed since the previous sync;
- new_low / new_high: the cheapest (dearest) offer against the lowest (highest) price of the
  `lookback` whole UTC days before the snapshot's day, from the daily roll-ups.
"""

from datetime import UTC

from django.db.models import (
    BooleanField,
    Case,
    DateTimeField,
    Expression,
    ExpressionWrapper,
    F,
    FloatField,
    Max,
    Min,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Abs, Cast, Coalesce, TruncDay
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IsNull,
    LessThan,
    LessThanOrEqual,
)

from pricing.models import (
    AlertFigure,
    AlertKind,
    AlertRule,
    Offer,
    ProductSnapshot,
    RollupSpan,
    SnapshotRollup,
)

# The snapshot column of each figure; cheapest_in_stock is read from the current offers.
FIGURE_COLUMNS = {
    AlertFigure.CHEAPEST: "min_price",
    AlertFigure.MEAN: "mean_price",
    AlertFigure.WEIGHTED_MEAN: "weighted_mean_price",
}


class Params:
    """A rule's parameters as expressions: the columns of the rules joined to the snapshots
    (`prefix` is the join's path), or one rule's values as constants."""

    def __init__(self, *, prefix: str | None = None, rule: AlertRule | None = None):
        assert (prefix is None) != (rule is None)
        self.prefix, self.rule = prefix, rule

    @property
    def is_constant(self) -> bool:
        return self.rule is not None

    def column(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def value(self, name: str, output_field=None) -> Expression:
        if self.rule is not None:
            return Value(getattr(self.rule, name), output_field=output_field)
        return F(self.column(name))

    def outer(self, name: str) -> Expression:
        """The parameter from inside a subquery over another table."""
        if self.rule is not None:
            return Value(getattr(self.rule, name))
        return OuterRef(self.column(name))

    def switch(self, name: str, cases: dict, output_field) -> Expression:
        """The expression of the case the parameter `name` names: picked here for a constant,
        a CASE on the column otherwise."""
        if self.rule is not None:
            expression = cases.get(getattr(self.rule, name))
            return expression if expression is not None else Value(None, output_field)
        return Case(
            *(When(**{self.column(name): key}, then=then) for key, then in cases.items()),
            default=Value(None),
            output_field=output_field,
        )


def truth(when_true, when_false) -> Case:
    """True, False, or NULL when neither holds (a NULL operand)."""
    return Case(
        When(when_true, then=Value(True)),
        When(when_false, then=Value(False)),
        default=Value(None),
        output_field=BooleanField(),
    )


def _earlier_snapshots():
    return ProductSnapshot.objects.filter(product=OuterRef("product")).order_by("-taken_at")


def figure(params: Params, *, live: bool) -> Expression:
    """The rule's figure at this snapshot (float). cheapest_in_stock is known only live, from
    the product's current offers: snapshots do not keep it, so the back-test cannot see it."""
    cases = {key: Cast(column, FloatField()) for key, column in FIGURE_COLUMNS.items()}
    if live:
        cheapest_in_stock = (
            Offer.objects.filter(
                product=OuterRef("product"),
                is_current=True,
                items_in_stock__gte=params.outer("min_stock"),
            )
            .order_by("price")
            .values("price")[:1]
        )
        cases[AlertFigure.CHEAPEST_IN_STOCK] = Cast(Subquery(cheapest_in_stock), FloatField())
    return params.switch("figure", cases, FloatField())


def window_reference(params: Params) -> Expression:
    """The figure of the last snapshot at or before `window` before this one (float)."""
    since = ExpressionWrapper(
        OuterRef("taken_at") - params.outer("window"), output_field=DateTimeField()
    )
    earlier = _earlier_snapshots().filter(taken_at__lte=since)
    cases = {
        key: Cast(Subquery(earlier.values(column)[:1]), FloatField())
        for key, column in FIGURE_COLUMNS.items()
    }
    return params.switch("figure", cases, FloatField())


def lookback_extreme(params: Params, *, highest: bool) -> Expression:
    """The lowest (highest) offer price of the `lookback` whole UTC days before the snapshot's
    day, from the daily roll-ups; NULL when they hold none."""
    day = OuterRef("snapshot_day")
    since = ExpressionWrapper(day - params.outer("lookback"), output_field=DateTimeField())
    column = "max_price" if highest else "min_price"
    days = (
        SnapshotRollup.objects.filter(
            product=OuterRef("product"),
            span=RollupSpan.DAY,
            starts_at__gte=since,
            starts_at__lt=day,
        )
        .values("product")
        .annotate(extreme=(Max if highest else Min)(column))
        .values("extreme")
    )
    return Cast(Subquery(days), FloatField())


def previous_cheapest() -> Subquery:
    return Subquery(
        _earlier_snapshots()
        .filter(taken_at__lt=OuterRef("taken_at"))
        .values("cheapest_offer_id")[:1]
    )


def _moved(params: Params, value: Expression, reference: Expression) -> Expression:
    """At least the rule's amount (or percentage of `reference`) away from `reference`, in the
    rule's direction."""
    delta = ExpressionWrapper(value - reference, output_field=FloatField())
    bound = Coalesce(
        Cast(params.value("change_amount"), FloatField()),
        ExpressionWrapper(
            Cast(params.value("change_percent"), FloatField()) * reference / Value(100.0),
            output_field=FloatField(),
        ),
        output_field=FloatField(),
    )
    down = truth(LessThanOrEqual(delta, -bound), GreaterThan(delta, -bound))
    up = truth(GreaterThanOrEqual(delta, bound), LessThan(delta, bound))
    either = truth(GreaterThanOrEqual(Abs(delta), bound), LessThan(Abs(delta), bound))
    return params.switch("direction", {"down": down, "up": up, "either": either}, BooleanField())


def _changed(current: Expression, previous: Expression) -> Case:
    return Case(
        When(IsNull(current, True), then=Value(None)),
        When(IsNull(previous, True), then=Value(None)),
        When(Exact(current, previous), then=Value(False)),
        default=Value(True),
        output_field=BooleanField(),
    )


def _counted(column: str) -> Case:
    return truth(GreaterThan(F(column), 0), Exact(F(column), 0))


def condition(params: Params, *, live: bool) -> Expression:
    """The rule's condition at this snapshot: True, False or NULL (see the module's doc)."""
    value = figure(params, live=live)
    threshold = Cast(params.value("threshold"), FloatField())
    stock = F("total_stock")
    cases = {
        AlertKind.PRICE_BELOW: truth(
            LessThan(value, threshold), GreaterThanOrEqual(value, threshold)
        ),
        AlertKind.PRICE_ABOVE: truth(
            GreaterThan(value, threshold), LessThanOrEqual(value, threshold)
        ),
        AlertKind.PRICE_MOVE: _moved(params, value, window_reference(params)),
        AlertKind.CHEAPEST_CHANGED: _changed(F("cheapest_offer_id"), previous_cheapest()),
        AlertKind.OUT_OF_STOCK: truth(Exact(stock, 0), GreaterThan(stock, 0)),
        AlertKind.BACK_IN_STOCK: truth(GreaterThan(stock, 0), Exact(stock, 0)),
        AlertKind.STOCK_BELOW: truth(
            LessThan(Cast(stock, FloatField()), threshold),
            GreaterThanOrEqual(Cast(stock, FloatField()), threshold),
        ),
        AlertKind.OFFER_OUT_OF_STOCK: _counted("offers_sold_out"),
        AlertKind.OFFER_BACK_IN_STOCK: _counted("offers_restocked"),
        AlertKind.OFFER_APPEARED: _counted("offers_appeared"),
        AlertKind.OFFER_VANISHED: _counted("offers_vanished"),
        AlertKind.NEW_LOW: truth(
            LessThan(Cast(F("min_price"), FloatField()), lookback_extreme(params, highest=False)),
            GreaterThanOrEqual(
                Cast(F("min_price"), FloatField()), lookback_extreme(params, highest=False)
            ),
        ),
        AlertKind.NEW_HIGH: truth(
            GreaterThan(Cast(F("max_price"), FloatField()), lookback_extreme(params, highest=True)),
            LessThanOrEqual(
                Cast(F("max_price"), FloatField()), lookback_extreme(params, highest=True)
            ),
        ),
    }
    return params.switch("kind", cases, BooleanField())


def reference(params: Params) -> Expression:
    """What the rule compared the snapshot to, for the firing's message (float or NULL)."""
    cases = {
        AlertKind.PRICE_MOVE: window_reference(params),
        AlertKind.NEW_LOW: lookback_extreme(params, highest=False),
        AlertKind.NEW_HIGH: lookback_extreme(params, highest=True),
    }
    return params.switch("kind", cases, FloatField())


def with_conditions(snapshots: QuerySet, params: Params, *, live: bool) -> QuerySet:
    """`snapshots` annotated with each rule's `holds` (its condition), `watched` (its figure),
    `compared_to` (its reference) and the previous snapshot's cheapest offer."""
    return snapshots.annotate(snapshot_day=TruncDay("taken_at", tzinfo=UTC)).annotate(
        holds=condition(params, live=live),
        watched=figure(params, live=live),
        compared_to=reference(params),
        previous_cheapest=previous_cheapest(),
    )
