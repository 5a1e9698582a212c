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
    Func,
    Max,
    Min,
    OuterRef,
    QuerySet,
    Subquery,
    UUIDField,
    Value,
    When,
)
from django.db.models.functions import Abs, Cast, Coalesce, TruncDay
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
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
    (`prefix` is the join's path), or one rule's values as constants.

    With columns, `present` may list the values the rules in play have ({"kind": {...}}): the
    CASEs then leave out the others, and the query compiles in a fraction of the time.
    """

    def __init__(
        self,
        *,
        prefix: str | None = None,
        rule: AlertRule | None = None,
        present: dict[str, set] | None = None,
    ):
        assert (prefix is None) != (rule is None)
        self.prefix, self.rule, self.present = prefix, rule, present or {}

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
        present = self.present.get(name)
        return Case(
            *(
                When(**{self.column(name): key}, then=then)
                for key, then in cases.items()
                if present is None or key in present
            ),
            default=Value(None),
            output_field=output_field,
        )


class Differs(Func):
    """a <> b: NULL when either is NULL, as SQL compares (Django's negated lookups are not)."""

    arg_joiner = " <> "
    template = "(%(expressions)s)"
    output_field = BooleanField()


def _earlier_snapshots():
    return ProductSnapshot.objects.filter(product=OuterRef("product")).order_by("-taken_at")


def _as_float(expression) -> Expression:
    return Cast(expression, FloatField())


def figure(params: Params, *, live: bool) -> Expression:
    """The rule's figure at this snapshot (float). cheapest_in_stock is known only live, from
    the product's current offers: snapshots do not keep it, so the back-test cannot see it."""
    cases = {key: _as_float(column) for key, column in FIGURE_COLUMNS.items()}
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
        cases[AlertFigure.CHEAPEST_IN_STOCK] = _as_float(Subquery(cheapest_in_stock))
    return params.switch("figure", cases, FloatField())


def window_reference(params: Params) -> Expression:
    """The figure of the last snapshot at or before `window` before this one (float)."""
    since = ExpressionWrapper(
        OuterRef("taken_at") - params.outer("window"), output_field=DateTimeField()
    )
    earlier = _earlier_snapshots().filter(taken_at__lte=since)
    if params.is_constant:
        column = FIGURE_COLUMNS.get(params.rule.figure)
        return _as_float(Subquery(earlier.values(column)[:1])) if column else Value(None)
    # One subquery, whose column is the rule's figure.
    picked = Case(
        *(
            When(Exact(OuterRef(params.column("figure")), key), then=_as_float(column))
            for key, column in FIGURE_COLUMNS.items()
        ),
        output_field=FloatField(),
    )
    return Subquery(earlier.annotate(picked=picked).values("picked")[:1])


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
    return _as_float(Subquery(days))


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
        _as_float(params.value("change_amount")),
        ExpressionWrapper(
            _as_float(params.value("change_percent")) * reference / Value(100.0),
            output_field=FloatField(),
        ),
        output_field=FloatField(),
    )
    return params.switch(
        "direction",
        {
            "down": LessThanOrEqual(delta, -bound),
            "up": GreaterThanOrEqual(delta, bound),
            "either": GreaterThanOrEqual(Abs(delta), bound),
        },
        BooleanField(),
    )


def condition(params: Params, *, live: bool) -> Expression:
    """The rule's condition at this snapshot: True, False or NULL (see the module's doc). SQL's
    comparisons give NULL for a NULL operand, which is what an undecided condition is."""
    value = figure(params, live=live)
    threshold = _as_float(params.value("threshold"))
    stock = F("total_stock")
    cases = {
        AlertKind.PRICE_BELOW: LessThan(value, threshold),
        AlertKind.PRICE_ABOVE: GreaterThan(value, threshold),
        AlertKind.PRICE_MOVE: _moved(params, value, window_reference(params)),
        AlertKind.CHEAPEST_CHANGED: Differs(F("cheapest_offer_id"), previous_cheapest()),
        AlertKind.OUT_OF_STOCK: Exact(stock, 0),
        AlertKind.BACK_IN_STOCK: GreaterThan(stock, 0),
        AlertKind.STOCK_BELOW: LessThan(_as_float(stock), threshold),
        AlertKind.OFFER_OUT_OF_STOCK: GreaterThan(F("offers_sold_out"), 0),
        AlertKind.OFFER_BACK_IN_STOCK: GreaterThan(F("offers_restocked"), 0),
        AlertKind.OFFER_APPEARED: GreaterThan(F("offers_appeared"), 0),
        AlertKind.OFFER_VANISHED: GreaterThan(F("offers_vanished"), 0),
        AlertKind.NEW_LOW: LessThan(
            _as_float(F("min_price")), lookback_extreme(params, highest=False)
        ),
        AlertKind.NEW_HIGH: GreaterThan(
            _as_float(F("max_price")), lookback_extreme(params, highest=True)
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
    `compared_to` (its reference) and, for cheapest_changed, the previous snapshot's cheapest
    offer."""
    return snapshots.annotate(snapshot_day=TruncDay("taken_at", tzinfo=UTC)).annotate(
        holds=condition(params, live=live),
        watched=figure(params, live=live),
        compared_to=reference(params),
        # For the messages of cheapest_changed only: no lookup for the other rules' rows.
        previous_cheapest=params.switch(
            "kind", {AlertKind.CHEAPEST_CHANGED: previous_cheapest()}, UUIDField()
        ),
    )
