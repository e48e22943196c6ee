from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from app_integrity.integrations.django import require_integrity


@csrf_exempt
@require_integrity("redeem")
def redeem(request: HttpRequest) -> JsonResponse:
    decision = request.integrity
    # A limit lets the request through with the decision attached: act on it (smaller quota, a CAPTCHA).
    quota = 1 if decision.outcome == "limit" else 10
    coupon = json.loads(request.body)["coupon"]
    return JsonResponse({"coupon": coupon, "quota": quota, "outcome": decision.outcome.value})


@csrf_exempt
@require_integrity("profile")
def profile(request: HttpRequest) -> JsonResponse:
    # A form body, parsed after verification read it.
    return JsonResponse({"name": request.POST["name"], "outcome": request.integrity.outcome.value})


@csrf_exempt
@require_integrity("browse")
def browse(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"outcome": request.integrity.outcome.value, "enforced": request.integrity.enforced})


@csrf_exempt
def feedback(request: HttpRequest) -> JsonResponse:
    # Protected by the middleware's "routes" setting.
    return JsonResponse({"received": len(request.body), "outcome": request.integrity.outcome.value})
