"""The JSON API: users and tokens, products, their offers, trends and sync requests, their market
position (MAP violations, long memory, what moved in the catalogue), and alerts (rules, their
firings, the user's alert settings).

Every figure comes from pricing.selectors and every action from the services, exactly as the
pages get them. A user reaches only their own products: anyone else's is 404 for every method
and sub-resource, never 403. No request waits for the Offers service: registration and syncs
are queued.
"""

import re
import uuid
import zoneinfo
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate, update_session_auth_hash
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
)
from rest_framework import status
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import (
    NotFound,
    ParseError,
    PermissionDenied,
    Throttled,
    ValidationError,
)
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts.services import (
    user_api_token_create,
    user_api_token_revoke,
    user_change_email,
    user_change_password,
    user_email_verified,
    user_signup,
    user_update_profile,
)
from api.errors import Conflict, error_response
from api.metadata import ApiMetadata
from api.serializers import (
    ID_MAX,
    PERIODS,
    AlertFiringSerializer,
    AlertListQuerySerializer,
    AlertReadResultSerializer,
    AlertReadSerializer,
    AlertRuleReplaceSerializer,
    AlertRuleSerializer,
    AlertRuleSpecSerializer,
    AlertSettingsSerializer,
    AlertSettingsUpdateSerializer,
    BacktestSerializer,
    HistoryQuerySerializer,
    MapViolationSerializer,
    MarketPeriodQuerySerializer,
    MemoryQuerySerializer,
    MemorySerializer,
    MovementsQuerySerializer,
    MovementsSerializer,
    OfferSerializer,
    PageQuerySerializer,
    ProductCreateSerializer,
    ProductFigures,
    ProductListQuerySerializer,
    ProductReplaceSerializer,
    ProductSerializer,
    SyncRequestSerializer,
    TokenRequestSerializer,
    TokenSerializer,
    TrendSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from api.throttling import AnonThrottle, CredentialsThrottle
from pricing.selectors import (
    CATALOGUE_CHANGE_PERIOD,
    AlertRuleInfo,
    Bucket,
    MemoryWindow,
    Movement,
    ProductOrder,
    TrendTooFine,
    TrendTooLarge,
    alert_backtest,
    alert_firings,
    alert_rule_get,
    alert_rules,
    alert_settings_of,
    catalogue_movements,
    current_offers,
    map_violations,
    price_change_many,
    price_memory,
    price_position_many,
    price_trend,
    product_stats_many,
    products_moved,
    products_ordered,
    sync_status,
    with_sync_state,
)
from pricing.services import (
    AlertRuleNotFound,
    RegistrationRequestOutcome,
    SyncRequestOutcome,
    alert_firings_mark_read,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_update,
    alert_settings_update,
    alert_webhook_secret_rotate,
    product_registration_request,
    product_sync_request,
)
from products.models import Product
from products.services import (
    ProductLimitReached,
    ProductSuspended,
    product_create,
    product_delete,
    product_update,
)

TAG_USERS, TAG_PRODUCTS, TAG_ALERTS = "Users and tokens", "Products", "Alerts"
TAG_MARKET = "Market position"
BODY_TOO_LARGE = error_response("The body is larger than the API reads (64 KiB by default).")
SUSPENDED = error_response("The product is suspended by staff: read-only; the detail says why.")


class ApiView(GenericAPIView):
    """What every endpoint checks before its own work."""

    metadata_class = ApiMetadata

    def initial(self, request, *args, **kwargs):
        # A NUL byte would reach PostgreSQL, which refuses it with an error (a 500).
        for name, values in request.query_params.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                raise ParseError(f"The query parameter {name!r} holds a NUL byte.")
        super().initial(request, *args, **kwargs)

    def query(self, serializer_class):
        """The query string, validated by serializer_class (400 naming the bad parameter)."""
        serializer = serializer_class(data=self.request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


# --- Users and tokens --------------------------------------------------------------------------


class UserCreateView(ApiView):
    authentication_classes = []  # a stale token must not stop anyone from signing up
    permission_classes = [AllowAny]
    throttle_classes = [AnonThrottle, CredentialsThrottle]
    serializer_class = UserCreateSerializer

    @extend_schema(
        tags=[TAG_USERS],
        summary="Create an account",
        description="The same rules as the signup page: the password passes Django's "
        "validators, the email is unique in any case. Unless email verification is off, a "
        "confirmation link is emailed; when it is mandatory (production), a token is given only "
        "once the address is confirmed, and an address that has an account already gets the "
        "same 201 (its owner is emailed instead): the answer tells no one who has an account.",
        responses={201: UserSerializer, 413: BODY_TOO_LARGE},
        examples=[
            OpenApiExample(
                "A new account",
                value={
                    "email": "ada@example.com",
                    "password": "a long passphrase",
                    "full_name": "Ada",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_signup(request=request._request, **serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(ApiView):
    """POST exchanges an email and password for the account's token; DELETE revokes it."""

    serializer_class = TokenRequestSerializer

    def get_authenticators(self):
        # Asking for a token proves who you are by the password alone.
        if self.request is not None and self.request.method == "POST":
            return []
        return super().get_authenticators()

    def get_permissions(self):
        if self.request.method == "POST":
            return [AllowAny()]
        return super().get_permissions()

    def get_throttles(self):
        if self.request.method == "POST":
            return [AnonThrottle(), CredentialsThrottle()]
        return super().get_throttles()

    @extend_schema(
        tags=[TAG_USERS],
        summary="Get your API token",
        description="Wrong credentials get a 400 that does not say which part was wrong; so "
        "do deactivated accounts.",
        auth=[],
        responses={200: TokenSerializer, 413: BODY_TOO_LARGE},
        examples=[
            OpenApiExample(
                "Credentials",
                value={"email": "ada@example.com", "password": "a long passphrase"},
                request_only=True,
            ),
            OpenApiExample(
                "A token",
                value={"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"},
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            email=serializer.validated_data["email"].strip(),
            password=serializer.validated_data["password"],
        )
        if user is None:
            raise ValidationError("These credentials are not right.", "invalid_credentials")
        if not user_email_verified(user=user):
            raise ValidationError(
                "Confirm your email address first: follow the link we emailed you.",
                "email_unverified",
            )
        return Response({"token": user_api_token_create(user=user)})

    @extend_schema(
        tags=[TAG_USERS],
        summary="Revoke your API token",
        description="Requests with it get 401 from now on. Revoking when there is no token "
        "is no error.",
        request=None,
        responses={204: None},
    )
    def delete(self, request):
        user_api_token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(ApiView):
    serializer_class = UserUpdateSerializer

    @extend_schema(tags=[TAG_USERS], summary="Your account", responses=UserSerializer)
    def get(self, request):
        return Response(UserSerializer(request.user).data)

    @extend_schema(
        tags=[TAG_USERS],
        summary="Replace your account's details",
        description="email, full_name and time_zone are all required. A new email address "
        "must be confirmed again (a link is emailed). A new password needs "
        "`current_password`; the old password stops working, your token does not.",
        responses={200: UserSerializer, 413: BODY_TOO_LARGE},
    )
    def put(self, request):
        return self._update(request, partial=False)

    @extend_schema(
        tags=[TAG_USERS],
        summary="Change some of your account's details",
        description="Only the fields named change. A new password needs `current_password`.",
        responses={200: UserSerializer, 413: BODY_TOO_LARGE},
    )
    def patch(self, request):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool) -> Response:
        user = request.user
        serializer = self.get_serializer(user, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        changes = serializer.validated_data
        if "email" in changes:
            user_change_email(request=request._request, user=user, email=changes["email"])
        if "full_name" in changes or "time_zone" in changes:
            user_update_profile(
                user=user,
                full_name=changes.get("full_name", user.full_name),
                time_zone=changes.get("time_zone", user.time_zone),
            )
        if "password" in changes:
            user_change_password(user=user, password=changes["password"])
            if request.auth is None:  # signed in by session: keep this one signed in
                update_session_auth_hash(request._request, user)
        return Response(UserSerializer(user).data)


# --- Products ----------------------------------------------------------------------------------


def _figures(products: list[Product]) -> list[ProductFigures]:
    """Each product with its sync status, statistics, 24 h change and market position: a
    constant number of queries for any number of products (their tracking rows are already
    joined)."""
    now = timezone.now()
    ids = [product.pk for product in products]
    statistics = product_stats_many(product_ids=ids)
    changes = price_change_many(product_ids=ids, start=now - CATALOGUE_CHANGE_PERIOD, end=now)
    positions = price_position_many(product_ids=ids)
    return [
        ProductFigures(
            product=product,
            status=sync_status(product, now=now),
            statistics=statistics[product.pk],
            change_24h=changes[product.pk],
            position=positions[product.pk],
            currency=settings.PRICE_CURRENCY,
        )
        for product in products
    ]


def _user_limit(retry_after: int | None) -> Throttled:
    return Throttled(
        wait=retry_after,
        detail=f"You have asked for {settings.SYNC_NOW_PER_USER_PER_MINUTE} syncs or "
        "registrations in the last minute, the most one account may; every product is synced "
        "each minute anyway.",
    )


def _validation_error(error: DjangoValidationError) -> ValidationError:
    """A model's own check (full_clean in the services), as the API's 400."""
    return ValidationError(error.message_dict if hasattr(error, "error_dict") else error.messages)


class ProductsView(ApiView):
    serializer_class = ProductCreateSerializer

    def get_queryset(self) -> QuerySet[Product]:
        return Product.objects.for_owner(self.request.user)

    @extend_schema(
        tags=[TAG_PRODUCTS],
        summary="Your products",
        description="One page of your products, with their sync state, current statistics, "
        "24 h change and market position (null where undefined). `moved` and `within` keep "
        "those where something moved (the links of /movements/).",
        parameters=[ProductListQuerySerializer],
        responses={200: ProductSerializer(many=True)},
    )
    def get(self, request):
        params = self.query(ProductListQuerySerializer)
        ordering = params["ordering"]
        now = timezone.now()
        products = self.get_queryset().search(params.get("search", ""))
        if "moved" in params:
            products = products_moved(
                products,
                movement=Movement(params["moved"]),
                start=now - PERIODS[params["within"]],
                end=now,
            )
        products = products_ordered(
            products,
            by=ProductOrder(ordering.removeprefix("-")),
            descending=ordering.startswith("-"),
            now=now,
        )
        page = self.paginate_queryset(products)
        return self.get_paginated_response(ProductSerializer(_figures(page), many=True).data)

    @extend_schema(
        tags=[TAG_PRODUCTS],
        summary="Add a product",
        description="It is registered with the Offers service in the background; its first "
        "offers arrive within seconds (watch `sync.state`). An account has at most "
        "PRODUCTS_PER_USER_MAX products (1,000 by default): one more gets 403 "
        "`product_limit_reached`.",
        responses={201: ProductSerializer, 413: BODY_TOO_LARGE},
        examples=[
            OpenApiExample(
                "A product",
                value={"name": "Espresso machine", "description": "Model X, black"},
                request_only=True,
            ),
            OpenApiExample(
                "With your price and MAP",
                value={
                    "name": "Espresso machine",
                    "description": "Model X, black",
                    "my_price": 1290,
                    "map_price": 1199,
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            product = product_create(owner=request.user, **serializer.validated_data)
        except DjangoValidationError as error:
            raise _validation_error(error) from None
        except ProductLimitReached as error:
            raise PermissionDenied(str(error), "product_limit_reached") from None
        (figures,) = _figures([product])
        return Response(ProductSerializer(figures).data, status=status.HTTP_201_CREATED)


class OwnedProductView(ApiView):
    """An endpoint under /products/{id}/: the signed-in user's product, or 404."""

    def get_object(self) -> Product:
        try:
            product_id = uuid.UUID(str(self.kwargs["product_id"]))
        except ValueError:
            raise NotFound("No such product: the id is not a UUID.") from None
        products = with_sync_state(Product.objects.for_owner(self.request.user))
        try:
            return products.get(pk=product_id)
        except Product.DoesNotExist:
            raise NotFound("No such product.") from None

    def get_writable_object(self) -> Product:
        product = self.get_object()
        if product.is_suspended:
            raise Conflict(str(ProductSuspended(product)))
        return product


PRODUCT_ID = OpenApiParameter(
    "product_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The product's id."
)


@extend_schema(parameters=[PRODUCT_ID])
class ProductView(OwnedProductView):
    serializer_class = ProductReplaceSerializer

    @extend_schema(tags=[TAG_PRODUCTS], summary="A product", responses=ProductSerializer)
    def get(self, request, product_id):
        (figures,) = _figures([self.get_object()])
        return Response(ProductSerializer(figures).data)

    @extend_schema(
        tags=[TAG_PRODUCTS],
        summary="Replace a product's name, description and reference prices",
        description="Every field is required: null clears my_price or map_price. Renaming "
        "does not register the product again.",
        responses={200: ProductSerializer, 409: SUSPENDED, 413: BODY_TOO_LARGE},
    )
    def put(self, request, product_id):
        return self._update(request, partial=False)

    @extend_schema(
        tags=[TAG_PRODUCTS],
        summary="Change some of a product's fields",
        description="Only the fields named change: a new name, or your price and MAP "
        "(null clears one).",
        responses={200: ProductSerializer, 409: SUSPENDED, 413: BODY_TOO_LARGE},
        examples=[
            OpenApiExample(
                "Set your price, clear the MAP",
                value={"my_price": 1249, "map_price": None},
                request_only=True,
            )
        ],
    )
    def patch(self, request, product_id):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool) -> Response:
        product = self.get_writable_object()
        serializer = self.get_serializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        changes = serializer.validated_data
        try:
            product = product_update(
                owner=request.user,
                product_id=product.pk,
                name=changes.get("name", product.name),
                description=changes.get("description", product.description),
                my_price=changes.get("my_price", product.my_price),
                map_price=changes.get("map_price", product.map_price),
            )
        except ProductSuspended as error:  # suspended while the request was on its way
            raise Conflict(str(error)) from None
        except DjangoValidationError as error:
            raise _validation_error(error) from None
        (figures,) = _figures([product])
        return Response(ProductSerializer(figures).data)

    @extend_schema(
        tags=[TAG_PRODUCTS],
        summary="Delete a product",
        description="Its offers and history go with it.",
        responses={204: None, 409: SUSPENDED},
    )
    def delete(self, request, product_id):
        product = self.get_writable_object()
        try:
            product_delete(owner=request.user, product_id=product.pk)
        except ProductSuspended as error:
            raise Conflict(str(error)) from None
        except Product.DoesNotExist:  # deleted by a request running alongside
            raise NotFound("No such product.") from None
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[PRODUCT_ID])
class ProductOffersView(OwnedProductView):
    @extend_schema(
        tags=[TAG_PRODUCTS],
        summary="A product's current offers",
        description="The offers of its latest successful sync, cheapest first, from our "
        "database (never a live call to the Offers service). Prices are whole units of the "
        "product's currency.",
        parameters=[PageQuerySerializer],
        responses=OfferSerializer(many=True),
    )
    def get(self, request, product_id):
        product = self.get_object()
        self.query(PageQuerySerializer)  # the paginator alone would ignore a bad page_size
        offers = current_offers(product=product)
        page = self.paginate_queryset(offers)
        return self.get_paginated_response(OfferSerializer(page, many=True).data)


@extend_schema(parameters=[PRODUCT_ID])
class ProductHistoryView(OwnedProductView):
    @extend_schema(
        tags=[TAG_PRODUCTS],
        summary="A product's price trend",
        description="Over [from, to): the product's figures per bucket, each offer's prices, "
        "and the percentage change of the mean price, as the product page computes them. At "
        "most 5,000 values (4 per point, 1 per offer price). Minute history is kept "
        "HISTORY_RAW_DAYS days (30 by default), hours and days for ever: a period reaching "
        "further back takes hour buckets or coarser (a finer interval gets 400 "
        "`interval_too_fine`).",
        parameters=[HistoryQuerySerializer],
        responses=TrendSerializer,
    )
    def get(self, request, product_id):
        product = self.get_object()
        params = self.query(HistoryQuerySerializer)
        end = params.get("to") or timezone.now()
        start = params.get("from") or end - timedelta(hours=24)
        if start >= end:  # `from` given alone, after now
            raise ValidationError({"from": ["Must be before `to` (now by default)."]}, "invalid")
        tz = zoneinfo.ZoneInfo(params["tz"]) if "tz" in params else request.user.zoneinfo
        try:
            trend = price_trend(
                product=product,
                start=start,
                end=end,
                tz=tz,
                bucket=Bucket(params["interval"]),
                include_offers=params["offers"],
            )
        except TrendTooLarge as error:
            raise ValidationError({"interval": [str(error)]}, "too_many_values") from None
        except TrendTooFine as error:
            raise ValidationError({"interval": [str(error)]}, "interval_too_fine") from None
        data = {
            "product_id": product.pk,
            "trend": trend,
            "currency": settings.PRICE_CURRENCY,
        }
        return Response(TrendSerializer(data).data)


@extend_schema(parameters=[PRODUCT_ID])
class ProductSyncView(OwnedProductView):
    @extend_schema(
        tags=[TAG_PRODUCTS],
        summary="Sync a product now",
        description="Queues a sync (202). Once per product every SYNC_NOW_COOLDOWN seconds "
        "(30 by default), whoever asks (the dashboard's button too): sooner gets 429 with "
        "Retry-After; so do more than SYNC_NOW_PER_USER_PER_MINUTE (20) syncs and "
        "registrations a minute by one account. A product not yet registered, or suspended, "
        "gets 409.",
        request=None,
        responses={
            202: SyncRequestSerializer,
            409: error_response("Not registered yet, or suspended by staff."),
        },
    )
    def post(self, request, product_id):
        product = self.get_object()
        sync = product_sync_request(product=product, requested_by=request.user)
        match sync.outcome:
            case SyncRequestOutcome.SUSPENDED | SyncRequestOutcome.OWNER_INACTIVE:
                raise Conflict(str(ProductSuspended(product)))
            case SyncRequestOutcome.NOT_REGISTERED:
                raise Conflict(
                    "The product is not registered with the Offers service yet "
                    f"({sync_status(product, now=timezone.now()).state.value}).",
                    "not_registered",
                )
            case SyncRequestOutcome.COOLING_DOWN:
                raise Throttled(
                    wait=sync.cooldown,
                    detail=f"A sync of this product was asked for moments ago; ask again "
                    f"within {sync.cooldown} s.",
                )
            case SyncRequestOutcome.USER_LIMIT:
                raise _user_limit(sync.retry_after)
        body = {"status": "queued", "requested_at": sync.requested_at}
        return Response(SyncRequestSerializer(body).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(parameters=[PRODUCT_ID])
class ProductRegisterView(OwnedProductView):
    @extend_schema(
        tags=[TAG_PRODUCTS],
        summary="Register a product again",
        description="After its registration with the Offers service failed (`sync.state` "
        "`registration_failed`, the reason in `sync.message`), start it over (202); on success "
        "the product is synced at once. Once per product every SYNC_NOW_COOLDOWN seconds, "
        "whoever asks, and within the account's SYNC_NOW_PER_USER_PER_MINUTE: sooner gets 429 "
        "with Retry-After. A registered or suspended product "
        "gets 409.",
        request=None,
        responses={
            202: SyncRequestSerializer,
            409: error_response("Registered already, or suspended by staff."),
        },
    )
    def post(self, request, product_id):
        product = self.get_object()
        registration = product_registration_request(product=product, requested_by=request.user)
        match registration.outcome:
            case RegistrationRequestOutcome.SUSPENDED | RegistrationRequestOutcome.OWNER_INACTIVE:
                raise Conflict(str(ProductSuspended(product)))
            case RegistrationRequestOutcome.ALREADY_REGISTERED:
                raise Conflict(
                    "The product is registered with the Offers service already.",
                    "already_registered",
                )
            case RegistrationRequestOutcome.COOLING_DOWN:
                raise Throttled(
                    wait=registration.cooldown,
                    detail="This product was sent for registration moments ago; ask again "
                    f"within {registration.cooldown} s.",
                )
            case RegistrationRequestOutcome.USER_LIMIT:
                raise _user_limit(registration.retry_after)
        body = {"status": "queued", "requested_at": registration.requested_at}
        return Response(SyncRequestSerializer(body).data, status=status.HTTP_202_ACCEPTED)


# --- Market position ---------------------------------------------------------------------------


def _market_period(params: dict, *, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of a MarketPeriodQuerySerializer's query: `period` ending now (24 h by
    default), or [from, to) with `to` at now at the latest: what is below the MAP now is not
    known to stay so."""
    if "from" not in params and "to" not in params:
        return now - PERIODS[params.get("period", MemoryWindow.DAY.value)], now
    end = min(params.get("to") or now, now)
    start = params.get("from") or end - timedelta(hours=24)
    if start >= end:  # `from` after now (`to` left out or after now too)
        raise ValidationError({"from": ["Must be before `to` and before now."]}, "invalid")
    return start, end


MAP_VIOLATIONS_DESCRIPTION = (
    "Offers advertised below the MAP at some time in the period (`period` ending now, 24h by "
    "default, or [from, to) as the history takes it), longest below first: each with the "
    "minutes below, its lowest price and how far under the MAP, its first and last time "
    "below, and whether it is below now. The MAP is today's. Prices are whole units of "
    "PRICE_CURRENCY. The dated evidence is the offers' observations, kept HISTORY_RAW_DAYS "
    "days (30 by default)."
)


@extend_schema(parameters=[PRODUCT_ID])
class ProductMapViolationsView(OwnedProductView):
    @extend_schema(
        tags=[TAG_MARKET],
        summary="A product's MAP violations",
        description=MAP_VIOLATIONS_DESCRIPTION + " Empty when the product has no map_price.",
        parameters=[MarketPeriodQuerySerializer],
        responses=MapViolationSerializer(many=True),
    )
    def get(self, request, product_id):
        product = self.get_object()
        params = self.query(MarketPeriodQuerySerializer)
        start, end = _market_period(params, now=timezone.now())
        violations = map_violations(owner=request.user, start=start, end=end, product_id=product.pk)
        page = self.paginate_queryset(violations)
        return self.get_paginated_response(MapViolationSerializer(page, many=True).data)


class MapViolationsView(ApiView):
    @extend_schema(
        tags=[TAG_MARKET],
        summary="Your catalogue's MAP violations",
        description=MAP_VIOLATIONS_DESCRIPTION + " Of every product of yours that has a map_price.",
        parameters=[MarketPeriodQuerySerializer],
        responses=MapViolationSerializer(many=True),
    )
    def get(self, request):
        params = self.query(MarketPeriodQuerySerializer)
        start, end = _market_period(params, now=timezone.now())
        violations = map_violations(owner=request.user, start=start, end=end)
        page = self.paginate_queryset(violations)
        return self.get_paginated_response(MapViolationSerializer(page, many=True).data)


@extend_schema(parameters=[PRODUCT_ID])
class ProductMemoryView(OwnedProductView):
    @extend_schema(
        tags=[TAG_MARKET],
        summary="A product's price memory",
        description="Over a window ending now (up to a year) and over its whole history: the "
        "cheapest offer's lowest and highest prices with their days, time-weighted means, the "
        "plain mean of the syncs, how often offers changed price, the volatility of the mean, "
        "and whether the cheapest price now is the lowest in 90 days or ever. Read from the "
        "hourly and daily roll-ups, kept for ever: the window starts at the UTC hour that "
        "holds now − window. The window's figures are null (price_changes 0) when it holds no "
        "sync with offers; current_cheapest, the *_ever extremes and history_since are the "
        "whole history's.",
        parameters=[MemoryQuerySerializer],
        responses=MemorySerializer,
    )
    def get(self, request, product_id):
        product = self.get_object()
        params = self.query(MemoryQuerySerializer)
        memory = price_memory(
            product=product, window=MemoryWindow(params["window"]), now=timezone.now()
        )
        data = {"product_id": product.pk, "memory": memory, "currency": settings.PRICE_CURRENCY}
        return Response(MemorySerializer(data).data)


class MovementsView(ApiView):
    @extend_schema(
        tags=[TAG_MARKET],
        summary="What moved in your catalogue",
        description="Over the period ending now, in whole UTC hours: for each movement (price "
        "rises and drops, offers that sold out or came back, appeared or vanished, new 90-day "
        "lows) how many times it happened and in how many of your products, with a link to "
        "the list of those products.",
        parameters=[MovementsQuerySerializer],
        responses=MovementsSerializer,
        examples=[
            OpenApiExample(
                "The last 24 hours",
                value={
                    "period": "24h",
                    "start": "2026-12-01T09:00:00+00:00",
                    "end": "2026-12-02T09:41:07.135118+00:00",
                    "movements": [
                        {
                            "movement": "drops",
                            "label": "Price drops",
                            "events": 12,
                            "products": 4,
                            "products_url": "https://prices.example.com/api/v1/products/"
                            "?moved=drops&within=24h",
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        params = self.query(MovementsQuerySerializer)
        period = params["period"]
        now = timezone.now()
        movements = catalogue_movements(owner=request.user, start=now - PERIODS[period], end=now)
        products = request.build_absolute_uri(reverse("api:products"))
        counts = [
            {
                "count": count,
                "products_url": f"{products}?"
                + urlencode({"moved": count.movement.value, "within": period}),
            }
            for count in movements.counts
        ]
        data = {"period": period, "catalogue": movements, "movements": counts}
        return Response(MovementsSerializer(data).data)


# --- Alerts ------------------------------------------------------------------------------------
# What a rule may be is pricing's to say (rule_spec_clean, which the dashboard uses too): the
# serializers check JSON types only, and the service's ValidationError, naming each wrong field,
# becomes the 400.


def _rule_product_writable(request, info: AlertRuleInfo) -> None:
    """404 when the rule's product is gone; 409 when staff suspended it, whose rules are
    read-only as the product is. Should the suspension land between this check and the
    service's, the service refuses the change (400)."""
    product = Product.objects.for_owner(request.user).filter(pk=info.product_id).first()
    if product is None:  # deleted by a request running alongside
        raise NotFound("No such alert rule.")
    if product.is_suspended:
        raise Conflict(str(ProductSuspended(product)))


@extend_schema(parameters=[PRODUCT_ID])
class ProductAlertRulesView(OwnedProductView):
    serializer_class = AlertRuleSpecSerializer

    @extend_schema(
        tags=[TAG_ALERTS],
        summary="A product's alert rules",
        description="One page of the product's rules, oldest first, each with its state.",
        parameters=[PageQuerySerializer],
        responses=AlertRuleSerializer(many=True),
    )
    def get(self, request, product_id):
        product = self.get_object()
        self.query(PageQuerySerializer)
        rules = alert_rules(owner=request.user, product_id=product.pk)
        page = self.paginate_queryset(rules)
        return self.get_paginated_response(AlertRuleSerializer(page, many=True).data)

    @extend_schema(
        tags=[TAG_ALERTS],
        summary="Add an alert rule",
        description="`kind` and the parameters it takes; the others may be left out (or null, "
        "or blank) and are cleared. A missing or wrong parameter is a 400 naming it. The rule "
        "is evaluated at each of the product's syncs from now on: it fires when its condition "
        "becomes true (for `debounce` syncs in a row), then again only once the condition has "
        "been false, and never within `cooldown_minutes` of its last firing. A product has at "
        "most 20 rules (400). Try a rule first with …/alert-rules/backtest/.",
        responses={201: AlertRuleSerializer, 409: SUSPENDED, 413: BODY_TOO_LARGE},
        examples=[
            OpenApiExample(
                "Cheapest offer below 950",
                value={"kind": "price_below", "figure": "cheapest", "threshold": 950},
                request_only=True,
            ),
            OpenApiExample(
                "The mean price falls by 10 % within 24 h, at most once an hour",
                value={
                    "kind": "price_move",
                    "figure": "mean",
                    "direction": "down",
                    "change_percent": 10,
                    "window": "24h",
                    "cooldown_minutes": 60,
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request, product_id):
        product = self.get_writable_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            info = alert_rule_create(
                owner=request.user, product_id=product.pk, spec=serializer.validated_data
            )
        except DjangoValidationError as error:
            raise _validation_error(error) from None
        except AlertRuleNotFound:  # deleted by a request running alongside
            raise NotFound("No such product.") from None
        return Response(AlertRuleSerializer(info).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[PRODUCT_ID])
class ProductAlertBacktestView(OwnedProductView):
    serializer_class = AlertRuleSpecSerializer

    @extend_schema(
        tags=[TAG_ALERTS],
        summary="Back-test an alert rule",
        description="How often a rule (the body, as for adding one; nothing is saved) would "
        "have fired over the product's last 30 days of history, with debounce, re-arming and "
        "cooldown applied as the live evaluation applies them; how many of those firings fell "
        "in your quiet hours, and on how many of your days it alone would pass your daily "
        "cap. `available` is false, with the `reason`, when the history cannot say. A "
        "suspended product can be back-tested.",
        responses={200: BacktestSerializer, 413: BODY_TOO_LARGE},
        examples=[
            OpenApiExample(
                "Cheapest offer below 950",
                value={"kind": "price_below", "figure": "cheapest", "threshold": 950},
                request_only=True,
            )
        ],
    )
    def post(self, request, product_id):
        product = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = alert_backtest(
                owner=request.user, product_id=product.pk, spec=serializer.validated_data
            )
        except DjangoValidationError as error:
            raise _validation_error(error) from None
        except AlertRuleNotFound:  # deleted by a request running alongside
            raise NotFound("No such product.") from None
        return Response(BacktestSerializer(result).data)


RULE_ID = OpenApiParameter(
    "rule_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The rule's id."
)


@extend_schema(parameters=[RULE_ID])
class AlertRuleView(ApiView):
    """/alert-rules/{id}/: the signed-in user's rule, or 404 (another user's too)."""

    serializer_class = AlertRuleReplaceSerializer

    def get_rule(self) -> AlertRuleInfo:
        rule_id = self.kwargs["rule_id"]
        # Digits only (int() would take " 7", "+7", "7_0" and other scripts' digits), and no
        # more than a bigint holds: the database would refuse a larger one with an error.
        if re.fullmatch(r"[0-9]{1,19}", rule_id) is None or int(rule_id) > ID_MAX:
            raise NotFound("No such alert rule: the id is not a number.")
        info = alert_rule_get(owner=self.request.user, rule_id=int(rule_id))
        if info is None:
            raise NotFound("No such alert rule.")
        return info

    @extend_schema(tags=[TAG_ALERTS], summary="An alert rule", responses=AlertRuleSerializer)
    def get(self, request, rule_id):
        return Response(AlertRuleSerializer(self.get_rule()).data)

    @extend_schema(
        tags=[TAG_ALERTS],
        summary="Replace an alert rule",
        description="Every field of the spec is required: null (or blank) for the parameters "
        "the kind does not take, as the rule's answer gives them. Changing its condition "
        "(anything but cooldown_minutes and is_enabled) starts its state afresh.",
        responses={200: AlertRuleSerializer, 409: SUSPENDED, 413: BODY_TOO_LARGE},
    )
    def put(self, request, rule_id):
        return self._update(request, partial=False)

    @extend_schema(
        tags=[TAG_ALERTS],
        summary="Change some of an alert rule's parameters",
        description="The fields named change; the others keep their values, and the result "
        "must be a valid rule: switching from change_percent to change_amount needs "
        '`"change_percent": null` too, and a new kind the parameters it takes.',
        responses={200: AlertRuleSerializer, 409: SUSPENDED, 413: BODY_TOO_LARGE},
    )
    def patch(self, request, rule_id):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool) -> Response:
        info = self.get_rule()
        _rule_product_writable(request, info)
        serializer = self.get_serializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        spec = {**info.spec, **serializer.validated_data}
        try:
            info = alert_rule_update(owner=request.user, rule_id=info.id, spec=spec)
        except DjangoValidationError as error:
            raise _validation_error(error) from None
        except AlertRuleNotFound:  # deleted by a request running alongside
            raise NotFound("No such alert rule.") from None
        return Response(AlertRuleSerializer(info).data)

    @extend_schema(
        tags=[TAG_ALERTS],
        summary="Delete an alert rule",
        description="Its firings stay in your alerts (with `rule` null).",
        responses={204: None, 409: SUSPENDED},
    )
    def delete(self, request, rule_id):
        info = self.get_rule()
        _rule_product_writable(request, info)
        try:
            alert_rule_delete(owner=request.user, rule_id=info.id)
        except DjangoValidationError as error:
            raise _validation_error(error) from None
        except AlertRuleNotFound:
            raise NotFound("No such alert rule.") from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertsView(ApiView):
    @extend_schema(
        tags=[TAG_ALERTS],
        summary="Your alerts",
        description="One page of your rules' firings, newest first: what each saw, and how it "
        "was delivered. Firings over your daily cap are listed too (`delivery` capped), "
        "already read: they were never sent. A deleted rule's firings stay, with `rule` null.",
        parameters=[AlertListQuerySerializer],
        responses=AlertFiringSerializer(many=True),
    )
    def get(self, request):
        params = self.query(AlertListQuerySerializer)
        firings = alert_firings(
            owner=request.user, product_id=params.get("product"), unread=params["unread"]
        )
        page = self.paginate_queryset(firings)
        return self.get_paginated_response(AlertFiringSerializer(page, many=True).data)


class AlertsReadView(ApiView):
    serializer_class = AlertReadSerializer

    @extend_schema(
        tags=[TAG_ALERTS],
        summary="Mark alerts read",
        description='`{"ids": [...]}` marks those of your firings read; `{}` marks all of '
        "them. Ids that are not your unread firings are passed over.",
        responses={200: AlertReadResultSerializer, 413: BODY_TOO_LARGE},
        examples=[OpenApiExample("Two alerts", value={"ids": [41, 42]}, request_only=True)],
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        marked = alert_firings_mark_read(
            owner=request.user, firing_ids=serializer.validated_data.get("ids")
        )
        return Response(AlertReadResultSerializer({"marked": marked}).data)


class AlertSettingsView(ApiView):
    serializer_class = AlertSettingsUpdateSerializer

    @extend_schema(
        tags=[TAG_ALERTS],
        summary="Your alert settings",
        description="How your alerts reach you (the defaults until you change one). Hours are "
        "local to your time zone.",
        responses=AlertSettingsSerializer,
    )
    def get(self, request):
        return Response(AlertSettingsSerializer(alert_settings_of(user=request.user)).data)

    @extend_schema(
        tags=[TAG_ALERTS],
        summary="Change your alert settings",
        description="The fields named change. email_mode: off, immediate, or a daily digest at "
        "digest_hour; quiet hours [quiet_start, quiet_end) hold emails until they end (both "
        "or neither); daily_cap: firings delivered per day, the rest only recorded. A "
        "webhook_url set for the first time gets a webhook_secret.",
        request=AlertSettingsUpdateSerializer,
        responses={200: AlertSettingsSerializer, 413: BODY_TOO_LARGE},
        examples=[
            OpenApiExample(
                "Quiet nights, a webhook",
                value={
                    "quiet_start": 22,
                    "quiet_end": 7,
                    "webhook_url": "https://example.com/hooks/prices",
                },
                request_only=True,
            )
        ],
    )
    def patch(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            prefs = alert_settings_update(user=request.user, changes=serializer.validated_data)
        except DjangoValidationError as error:
            raise _validation_error(error) from None
        return Response(AlertSettingsSerializer(prefs).data)


class AlertWebhookSecretView(ApiView):
    @extend_schema(
        tags=[TAG_ALERTS],
        summary="Rotate your webhook secret",
        description="A new signing key for your webhooks; the old one stops working at once.",
        request=None,
        responses=AlertSettingsSerializer,
    )
    def post(self, request):
        alert_webhook_secret_rotate(user=request.user)
        return Response(AlertSettingsSerializer(alert_settings_of(user=request.user)).data)


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@authentication_classes([])
@permission_classes([AllowAny])
def not_found(request):
    """Any other path under /api/v1/: the API's JSON 404, not the site's HTML page."""
    raise NotFound("No such endpoint: see /api/v1/docs/.")
