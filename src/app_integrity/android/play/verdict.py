"""The decoded Play Integrity payload as typed, immutable values.

Field names follow Google's ``TokenPayloadExternal`` (developer.android.com/google/play/integrity/verdicts).
Enum-valued fields stay plain strings: Google adds values over time, and an unknown value must be kept and judged
as "not a pass" rather than crash the parser. int64 fields arrive as JSON strings and are parsed strictly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app_integrity._frozen import builder
from app_integrity.errors import InputError, PlayIntegrityError

MAX_PAYLOAD_BYTES = 64 * 1024
_INT64 = re.compile(r"-?[0-9]{1,19}")
# The scanner of a decoder configured as json.loads's own (no hooks); typeshed does not declare the attribute.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_TEXT = (bytes, str)  # a constant: ``bytes | str`` would build a union object on every call
# The paths of the string-list fields, for their error messages.
_CERTIFICATES = "appIntegrity.certificateSha256Digest"
_LABELS = "deviceIntegrity.deviceRecognitionVerdict"
_LEGACY_LABELS = "deviceIntegrity.legacyDeviceRecognitionVerdict"
_APPS_DETECTED = "appAccessRiskVerdict.appsDetected"


@dataclass(frozen=True, slots=True)
class RequestDetails:
    request_package_name: str
    timestamp_millis: int
    request_hash: str | None = None  # standard requests
    nonce: str | None = None  # classic requests


@dataclass(frozen=True, slots=True)
class AppIntegrity:
    app_recognition_verdict: str
    package_name: str | None = None
    certificate_sha256_digest: tuple[str, ...] = ()
    version_code: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceRecall:
    values: tuple[bool | None, bool | None, bool | None] = (None, None, None)
    write_dates: tuple[int | None, int | None, int | None] = (None, None, None)  # yyyymm


@dataclass(frozen=True, slots=True)
class DeviceIntegrity:
    device_recognition_verdict: tuple[str, ...] = ()
    legacy_device_recognition_verdict: tuple[str, ...] | None = None
    sdk_version: int | None = None  # deviceAttributes.sdkVersion
    device_activity_level: str | None = None  # recentDeviceActivity.deviceActivityLevel
    device_recall: DeviceRecall | None = None


@dataclass(frozen=True, slots=True)
class AccountDetails:
    app_licensing_verdict: str
    account_activity_level: str | None = None  # accountActivity.activityLevel


@dataclass(frozen=True, slots=True)
class EnvironmentDetails:
    play_protect_verdict: str | None = None
    apps_detected: tuple[str, ...] | None = None  # appAccessRiskVerdict.appsDetected


@dataclass(frozen=True, slots=True)
class IntegrityVerdict:
    """One decoded verdict: every field of Google's payload that a server can judge."""

    request_details: RequestDetails
    app_integrity: AppIntegrity | None
    device_integrity: DeviceIntegrity | None
    account_details: AccountDetails | None
    environment_details: EnvironmentDetails | None
    is_testing_response: bool


def _load_json(payload: bytes | str) -> Any:
    """``json.loads(payload)``, its common case handed to json's C scanner directly.

    json.loads detects the encoding of bytes, decodes them and runs a whitespace regex before and after the
    scanner: some 40% of what it spends on a verdict. Text that starts with ``{"`` is text it reads as UTF-8 (no
    BOM, no NUL byte) with no leading whitespace, so it is decoded the same way and scanned from its first
    character; when the object does not end the text (trailing whitespace, extra data), json.loads takes over.
    """
    if isinstance(payload, bytes):
        if not payload.startswith(b'{"'):
            return json.loads(payload)
        text = payload.decode("utf-8", "surrogatepass")
    elif payload.startswith('{"'):
        text = payload
    else:
        return json.loads(payload)
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:  # the scanner's "no value here" (e.g. an object cut short): json.loads says what is wrong
        return json.loads(payload)
    return value if end == len(text) else json.loads(payload)


# Positional constructors for parse_verdict, which builds one of each per request (see _frozen).
_request_details = builder(RequestDetails)
_app_integrity = builder(AppIntegrity)
_device_integrity = builder(DeviceIntegrity)
_account_details = builder(AccountDetails)
_environment_details = builder(EnvironmentDetails)
_integrity_verdict = builder(IntegrityVerdict)


def _fail(path: str, why: str) -> PlayIntegrityError:
    return PlayIntegrityError("play.payload_invalid", f"verdict field {path} {why}")


def _obj(parent: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> Mapping[str, Any] | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise _fail(f"{path}.{key}", "is missing")
        return None
    if not isinstance(value, dict):
        raise _fail(f"{path}.{key}", "is not an object")
    return value


def _str(parent: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise _fail(f"{path}.{key}", "is missing")
        return None
    if not isinstance(value, str):
        raise _fail(f"{path}.{key}", "is not a string")
    return value


def _int64(parent: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> int | None:
    # proto3 JSON: int64 is a decimal string; int32 is a number. Accept both spellings, nothing else.
    value = parent.get(key)
    if value is None:
        if required:
            raise _fail(f"{path}.{key}", "is missing")
        return None
    if isinstance(value, bool):
        raise _fail(f"{path}.{key}", "is a boolean, not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT64.fullmatch(value):
        return int(value)
    raise _fail(f"{path}.{key}", "is not an integer (int64 fields are decimal strings)")


def _bool(parent: Mapping[str, Any], key: str, path: str) -> bool | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _fail(f"{path}.{key}", "is not a boolean")
    return value


def _string_tuple(value: object, path: str) -> tuple[str, ...]:
    # str.join type-checks every item in C: the same test as isinstance(item, str) for each, without a Python loop.
    if isinstance(value, list):
        try:
            "".join(value)
        except TypeError:
            pass
        else:
            return tuple(value)
    raise _fail(path, "is not a list of strings")


def _device_recall(raw: Mapping[str, Any] | None) -> DeviceRecall | None:
    if raw is None:
        return None
    path = "deviceIntegrity.deviceRecall"
    values = _obj(raw, "values", path) or {}
    dates = _obj(raw, "writeDates", path) or {}
    return DeviceRecall(
        values=(
            _bool(values, "bitFirst", path + ".values"),
            _bool(values, "bitSecond", path + ".values"),
            _bool(values, "bitThird", path + ".values"),
        ),
        write_dates=(
            _int64(dates, "yyyymmFirst", path + ".writeDates"),
            _int64(dates, "yyyymmSecond", path + ".writeDates"),
            _int64(dates, "yyyymmThird", path + ".writeDates"),
        ),
    )


def parse_verdict(payload: Mapping[str, Any] | bytes | str) -> IntegrityVerdict:
    """Build an ``IntegrityVerdict`` from the payload JSON (object, or its bytes), or raise a typed error."""
    if isinstance(payload, _TEXT):
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise InputError("input.too_large", f"verdict payload is over {MAX_PAYLOAD_BYTES} bytes")
        try:
            payload = _load_json(payload)
        except (ValueError, RecursionError) as exc:
            raise PlayIntegrityError("play.payload_invalid", "verdict payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise PlayIntegrityError("play.payload_invalid", "verdict payload is not a JSON object")
    # Each field is read inline when it has the exact type JSON gives it (the common case, once per request);
    # anything else goes to the helper, which accepts, converts or refuses it with the field's path. int64 fields
    # come as decimal strings: all-ASCII-digit strings of up to 19 digits are exactly what _INT64 matches without a
    # sign, so they are converted inline and everything else (a sign, a number, junk) is left to _int64.
    get = payload.get

    request = get("requestDetails")
    if type(request) is not dict:
        request = _obj(payload, "requestDetails", "payload", required=True) or {}
    package = request.get("requestPackageName")
    if type(package) is not str:
        package = _str(request, "requestPackageName", "requestDetails", required=True) or ""
    timestamp = request.get("timestampMillis")
    if type(timestamp) is str and len(timestamp) < 20 and timestamp.isdigit() and timestamp.isascii():
        timestamp = int(timestamp)
    elif type(timestamp) is not int:
        timestamp = _int64(request, "timestampMillis", "requestDetails", required=True) or 0
    request_hash = request.get("requestHash")
    if request_hash is not None and type(request_hash) is not str:
        request_hash = _str(request, "requestHash", "requestDetails")
    nonce = request.get("nonce")
    if nonce is not None and type(nonce) is not str:
        nonce = _str(request, "nonce", "requestDetails")
    request_details = _request_details(package, timestamp, request_hash, nonce)

    app_integrity = None
    app = get("appIntegrity")
    if app is not None:
        if type(app) is not dict:
            app = _obj(payload, "appIntegrity", "payload") or {}
        recognition = app.get("appRecognitionVerdict")
        if type(recognition) is not str:
            recognition = _str(app, "appRecognitionVerdict", "appIntegrity") or ""
        package_name = app.get("packageName")
        if package_name is not None and type(package_name) is not str:
            package_name = _str(app, "packageName", "appIntegrity")
        certificates = app.get("certificateSha256Digest")
        certificates = () if certificates is None else _string_tuple(certificates, _CERTIFICATES)
        version_code = app.get("versionCode")
        if type(version_code) is str and len(version_code) < 20 and version_code.isdigit() and version_code.isascii():
            version_code = int(version_code)
        elif version_code is not None and type(version_code) is not int:
            version_code = _int64(app, "versionCode", "appIntegrity")
        app_integrity = _app_integrity(recognition, package_name, certificates, version_code)

    device_integrity = None
    device = get("deviceIntegrity")
    if device is not None:
        if type(device) is not dict:
            device = _obj(payload, "deviceIntegrity", "payload") or {}
        attributes = device.get("deviceAttributes")
        if attributes is not None and type(attributes) is not dict:
            attributes = _obj(device, "deviceAttributes", "deviceIntegrity") or {}
        activity = device.get("recentDeviceActivity")
        if activity is not None and type(activity) is not dict:
            activity = _obj(device, "recentDeviceActivity", "deviceIntegrity") or {}
        labels = device.get("deviceRecognitionVerdict")
        labels = () if labels is None else _string_tuple(labels, _LABELS)
        legacy = device.get("legacyDeviceRecognitionVerdict")
        if legacy is not None:
            legacy = _string_tuple(legacy, _LEGACY_LABELS)
        sdk_version = None if attributes is None else attributes.get("sdkVersion")
        if sdk_version is not None and type(sdk_version) is not int:
            sdk_version = _int64(attributes or {}, "sdkVersion", "deviceIntegrity.deviceAttributes")
        activity_level = None if activity is None else activity.get("deviceActivityLevel")
        if activity_level is not None and type(activity_level) is not str:
            activity_level = _str(activity or {}, "deviceActivityLevel", "deviceIntegrity.recentDeviceActivity")
        recall = device.get("deviceRecall")
        if recall is not None:
            recall = _device_recall(_obj(device, "deviceRecall", "deviceIntegrity"))
        device_integrity = _device_integrity(labels, legacy, sdk_version, activity_level, recall)

    account_details = None
    account = get("accountDetails")
    if account is not None:
        if type(account) is not dict:
            account = _obj(payload, "accountDetails", "payload") or {}
        account_activity = account.get("accountActivity")
        if account_activity is not None and type(account_activity) is not dict:
            account_activity = _obj(account, "accountActivity", "accountDetails") or {}
        licensing = account.get("appLicensingVerdict")
        if type(licensing) is not str:
            licensing = _str(account, "appLicensingVerdict", "accountDetails") or ""
        account_level = None if account_activity is None else account_activity.get("activityLevel")
        if account_level is not None and type(account_level) is not str:
            account_level = _str(account_activity or {}, "activityLevel", "accountDetails.accountActivity")
        account_details = _account_details(licensing, account_level)

    environment_details = None
    environment = get("environmentDetails")
    if environment is not None:
        if type(environment) is not dict:
            environment = _obj(payload, "environmentDetails", "payload") or {}
        risk = environment.get("appAccessRiskVerdict")
        if risk is not None and type(risk) is not dict:
            risk = _obj(environment, "appAccessRiskVerdict", "environmentDetails")
        play_protect = environment.get("playProtectVerdict")
        if play_protect is not None and type(play_protect) is not str:
            play_protect = _str(environment, "playProtectVerdict", "environmentDetails")
        apps_detected = None
        if risk is not None:
            apps_detected = risk.get("appsDetected")
            apps_detected = () if apps_detected is None else _string_tuple(apps_detected, _APPS_DETECTED)
        environment_details = _environment_details(play_protect, apps_detected)

    testing = get("testingDetails")
    if testing is None:
        is_testing = False
    else:
        if type(testing) is not dict:
            testing = _obj(payload, "testingDetails", "payload") or {}
        flag = testing.get("isTestingResponse")
        is_testing = flag is True or (flag is not False and bool(_bool(testing, "isTestingResponse", "testingDetails")))
    return _integrity_verdict(
        request_details, app_integrity, device_integrity, account_details, environment_details, is_testing
    )
