"""What each area and field of a copy means, for its README.md (every field of data.json has a line).

A field's words are its area's own where it has them, else the common words of that field name.
"""

from __future__ import annotations

AREA_TITLES: dict[str, str] = {
    "profile": "your account (市民账号): phone, real name, ID number, identity level",
    "account_deletion": "your request to delete the account (注销), if you made one",
    "oidc_consents": "the other government sites you agreed may sign you in with this account, and what each may learn",
    "oidc_sign_ins": "your sign-ins to other sites with this account (the codes handed to them)",
    "oidc_access_tokens": "what those sites were given to read your details with, and until when",
    "preferences": "your display preferences (长辈模式)",
    "sessions": "devices signed in to your account (登录设备), signed-out ones too",
    "face_checks": "face checks (人脸核身) you started",
    "health_evidence": "what your health code's colour is worked out from (test results, vaccinations, trips, …)",
    "health_status": "your health code's current status",
    "health_status_history": "every evaluation of your health code's status",
    "venue_check_ins": "venue codes you scanned (扫码登记)",
    "health_code_appeals": "appeals against a colour (申诉)",
    "issued_health_codes": "health codes issued to you (which, when, until when; never the code itself)",
    "applications": "your applications (办件) with their forms and materials",
    "application_events": "each step of your applications",
    "joint_applications": "joint applications (一件事联办)",
    "joint_application_parts": "the parts of your joint applications, each an application",
    "payments": "payments (缴费): fees, fines and bills",
    "payment_events": "each step of your payments",
    "refunds": "refunds of your payments",
    "receipts": "e-receipts (电子票据) of your payments",
    "paid_references": "what each payment settled",
    "id_vouchers": "digital resident ID vouchers (居民身份电子凭证) on your phones",
    "voucher_presentations": "each showing of your ID voucher, and who redeemed it",
    "licences": "e-licences in your wallet (电子证照), their fields and signed documents",
    "licence_shares": "shares of your e-licences",
    "family_links": "family links (亲友代办): people you help, and who helps you",
    "undo_windows": "the time you had to withdraw a submission (elderly mode)",
    "appointments": "appointments you booked (预约)",
    "ratings": "your ratings of applications (好差评)",
    "rating_follow_ups": "a department's follow-up of a bad rating",
    "ticket_ratings": "your ratings of 12345 answers",
    "hotline_tickets": "12345 hotline tickets (工单) you filed",
    "hotline_ticket_events": "each step of your 12345 tickets",
    "notifications": "your inbox (消息)",
    "notification_deliveries": "how each message reached you (SMS, push, mini-program)",
    "home_cards": "the service cards pinned to your home screen (服务卡片)",
    "mini_program_bindings": "mini-program accounts bound to you",
    "mini_program_subscriptions": "mini-program messages you subscribed to (订阅消息) and not yet received",
    "social_insurance_proofs": "printed social-insurance proofs (个人权益记录)",
    "licence_status_checks": "when each wallet licence was last checked with its department",
    "uploads": "files you uploaded (材料上传); the files themselves are in files/",
    "department_requests": "each time a department's service was asked about you through the data exchange "
                           "(what, why, what came of it; never the data itself)",
    "access_log": "who else read your data, when, what and why (your access log), your own downloads of copies too",
    "account_events": "what happened on your account (sign-ins, identity changes, revocations, …)",
}

COMMON: dict[str, str] = {
    "id": "this record's id",
    "citizen_id": "your account's id",
    "created_at": "when it was created",
    "updated_at": "when it last changed",
    "expires_at": "when it ends or ended",
    "status": "its state",
    "status_reason": "why its state last changed",
    "status_changed_at": "when its state last changed",
    "issued_at": "when it was issued",
    "at": "when it happened",
    "actor": "who did it (an account, a client or a department id, or `system`)",
    "actor_type": "what kind of actor: citizen, admin, department, system, …",
    "from_status": "the state before",
    "to_status": "the state after",
    "note": "the service's note on the step",
    "item_id": "the service item (事项) it is about",
    "department_id": "the department (部门) concerned",
    "idempotency_key": "the key your app sent with it, so that a retry was not counted twice",
    "application_id": "the application (办件) concerned",
    "payment_id": "the payment concerned",
    "licence_id": "the e-licence concerned",
    "score": "your score, 1 (非常不满意) to 5 (非常满意)",
    "tags": "the tags you chose",
    "text": "what you wrote",
    "colour": "the health-code colour: green, yellow or red",
    "reasons": "the reasons for the colour (codes of the rules that applied)",
    "rule_version": "the version of the rules that decided it",
    "evaluated_at": "when it was worked out",
    "reason": "the reason given",
    "purpose": "why",
    "answer_round": "which answer: 1, then one more each time a ticket is reopened",
    "seq": "its number in the service's audit chain",
    "attributes": "what it concerned (names of the data, never their values)",
    "action": "what happened",
    "amount_fen": "amount in fen (分)",
    "settled_at": "when it was settled",
    "valid_until": "the last moment or day it is valid",
    "revoked_at": "when it was revoked or withdrawn",
    "file": "its name in files/ of this copy (null: not in it, file_left_out says why)",
    "file_left_out": "why the file is not in this copy: too_large (the copy's files reached their limit: download "
                     "it in the app), missing (no longer kept), unreadable (damaged in storage); null when it is",
}

AREAS: dict[str, dict[str, str]] = {
    "profile": {
        "phone": "your phone number", "name": "your name as the identity authority confirmed it (实名)",
        "id_number": "your resident ID number", "level": "identity level: 1 phone, 2 real name (实名), 3 face-checked",
        "elderly_mode": "elderly mode (长辈模式) on or off", "identity_verified_at": "when your real name was confirmed",
        "face_verified_at": "when your face check passed", "created_at": "when the account was created",
        "document_type": "the identity document your number is of: resident_id, residence_permit, hk_macao_permit, "
        "taiwan_permit, permanent_residence or passport", "nationality": "the nationality your document states (ISO "
        "3166 alpha-3)", "birth_date": "your birth date as your document (or a passport's machine-readable zone) "
        "states it"},
    "oidc_consents": {"client_id": "the site", "scopes": "what it may learn (openid, profile, phone, identity, …)",
                      "granted_at": "when you agreed"},
    "oidc_sign_ins": {"client_id": "the site", "scope": "what it asked for", "redirect_uri": "where you were sent back",
                      "acr": "how sure the sign-in was (urn:cn:gd:gov:loa:1-3)", "created_at": "when you signed in",
                      "used_at": "when the site took the sign-in up"},
    "oidc_access_tokens": {"client_id": "the site", "scope": "what it could read", "created_at": "when it was given",
                           "expires_at": "when it lapsed", "revoked_at": "when it was withdrawn"},
    "account_deletion": {
        "status": "your request to delete the account (注销): cooling_off, cancelled, erasing or erased",
        "requested_at": "when you asked", "erase_after": "when the cooling-off period ends",
        "cancelled_at": "when you cancelled it", "claimed_at": "when the erasure began", "erased_at": "when it ended"},
    "preferences": {"elderly_mode": "elderly mode (长辈模式): large type, high contrast, a simple home screen"},
    "department_requests": {
        "message_id": "the exchange message id (the department logs the same id)", "client": "who asked (this "
        "platform's member id on the exchange)", "service": "the department service asked",
        "purpose": "why: citizen_request, home_card, material_prefill, eligibility_check, …",
        "represented_party": "someone acting for you, if so (e.g. family:child)",
        "attempt": "1, then 2 and more for a read sent again", "status": "the department's HTTP status (null: no "
        "reply)", "fault": "the department's fault type, if it refused", "duration_ms": "milliseconds it took",
        "at": "when the request was sent"},
    "sessions": {
        "device_name": "the device's name", "last_used_at": "when it was last used",
        "expires_at": "when the sign-in ends", "revoked_at": "when it was signed out",
        "revoked_reason": "why: logout, remote_sign_out, refresh_reuse, identity_reclaimed, …",
        "push_platform": "ios or android, where it receives pushes",
        "push_language": "the language of its pushes"},
    "face_checks": {
        "purpose": "level3 (your own face check) or reclaim (taking back your identity)",
        "provider": "the face-check provider", "name": "the name checked", "id_number": "the ID number checked",
        "used_at": "when its verdict was taken", "outcome": "passed or failed", "expires_at": "when the check lapsed"},
    "health_evidence": {
        "kind": "what it is: test, vaccination, trip, exposure, …", "source": "who gave it",
        "observed_at": "when it was observed (a sample taken, a trip made)", "recorded_at": "when we received it",
        "data": "its content as given"},
    "health_status": {"next_change_at": "when the status changes next by itself, if it does"},
    "health_status_history": {"trigger": "what caused the evaluation", "changed": "whether the colour changed"},
    "venue_check_ins": {"venue_id": "the venue", "venue_name": "its name", "venue_address": "its address",
                        "at": "when you scanned"},
    "health_code_appeals": {
        "colour": "the colour appealed against", "reason": "what you wrote", "reviewed_by": "who reviewed it",
        "reviewed_at": "when", "review_note": "the reviewer's note", "override_until": "a green override until then",
        "judged": "the evidence the decision was about", "override_ended_at": "when later evidence ended the override",
        "ended_by": "the evidence that ended it", "status": "pending, approved or rejected"},
    "issued_health_codes": {
        "partner_id": "the partner region of a converted code (转码)",
        "source_state": "that region's status of it",
        "status_changed_to": "the colour it was replaced for, if it was", "expires_at": "when it expired"},
    "applications": {
        "form": "the form you filled in", "materials": "the materials named (uploads, licences, department records "
        "with their `content`)", "decision": "the decision (秒批 or a clerk's)", "assigned_to": "the clerk working it",
        "status": "submitted, accepted, approved, rejected, …"},
    "joint_applications": {"bundle_code": "the life-event bundle (一件事) applied for"},
    "joint_application_parts": {"joint_id": "the joint application", "position": "the item's place in the bundle",
                                "attempt": "1, then one more for each resubmission"},
    "payments": {
        "reference": "what it pays (fee, fine or bill reference)", "reference_kind": "application_fee, traffic_fine, "
        "utility_bill, …", "currency": "CNY", "description": "what the payment is for", "state": "its state",
        "channel": "app (APP 支付) or jsapi (mini-program)",
        "provider_order_id": "the provider's transaction id",
        "refunded_fen": "refunds asked for and not failed, in fen", "expires_at": "when an unpaid order lapses"},
    "payment_events": {"from_state": "the state before", "to_state": "the state after"},
    "refunds": {"state": "pending, abnormal, succeeded or failed", "requested_by": "who asked for it",
                "provider_refund_id": "the provider's refund id"},
    "receipts": {
        "number": "the receipt number", "payer_name_masked": "the payer as printed",
        "licence_id": "the receipt in your e-licence wallet", "wallet_outdated": "a refund the wallet copy does not show yet",
        "settlement_told_at": "when the department heard the bill was paid",
        "reversal_told_at": "when the department heard a refund reopened it",
        "settlement_refused_at": "when the department refused to record the payment",
        "reversal_refused_at": "when the department refused to record the refund"},
    "paid_references": {"reference": "what was paid", "paid_at": "when"},
    "id_vouchers": {"device_id": "the phone it is bound to", "device_key": "that phone's public key",
                    "replaces": "the voucher it re-issued"},
    "voucher_presentations": {
        "voucher_id": "the voucher shown", "consented": "the data you agreed to share",
        "standing_request": "the relying party's standing request it answered", "extended": "whether it was extended",
        "redeemed_at": "when it was redeemed", "redeemed_by": "the relying party that redeemed it"},
    "licences": {
        "type_id": "the kind of licence", "issuer_client_id": "the department that issued it",
        "fields": "the licence number (`number`) and its fields (`fields`), as issued", "document": "the issuer-signed document (JWS), as issued",
        "issuer_kid": "the issuer key that signed it", "valid_from": "valid from",
        "status": "valid, suspended or revoked"},
    "licence_shares": {"purpose": "what it was shared for", "withdrawn_at": "when you withdrew it"},
    "family_links": {
        "role": "principal: you are helped; proxy: you help", "principal_id": "the account helped",
        "proxy_id": "the account helping", "relation": "child, spouse, parent, …", "basis": "sms, hall or guardian",
        "evidence_licence_id": "the household register for a guardian", "issued_by": "the service hall that issued an "
        "in-person code", "confirmed_at": "when it was confirmed", "revoked_by": "who ended it"},
    "undo_windows": {"submitted_at": "when it was submitted", "undo_until": "it could be withdrawn until then",
                     "withdrawn_at": "when you withdrew it"},
    "appointments": {
        "slot_id": "the time slot", "day": "the day", "office": "the office", "starts_at": "starts",
        "ends_at": "ends", "active_marker": "active, or the booking's id once cancelled",
        "reminded_at": "when you were reminded", "status": "booked or cancelled"},
    "rating_follow_ups": {"rating_id": "the rating", "deadline": "the department's deadline",
                          "answer": "the department's answer", "closed_at": "when it was closed",
                          "status": "open, answered or overdue"},
    "ticket_ratings": {"ticket_id": "the 12345 ticket"},
    "hotline_tickets": {
        "category": "complaint, suggestion, enquiry or help", "description": "what you wrote",
        "location": "the address and coordinates you gave", "routed_by": "what decided the department",
        "uploads": "the files attached", "accept_due": "the department had to accept it by then",
        "answer_due": "and answer it by then", "escalated_for": "the limit missed, if it was escalated (督办)",
        "escalated_at": "when", "answer": "the department's answer", "closed_at": "when it was closed"},
    "hotline_ticket_events": {"ticket_id": "the ticket", "words": "what a person wrote with the step"},
    "notifications": {"kind": "the kind of message", "params": "the details filled into it",
                      "read_at": "when you read it"},
    "notification_deliveries": {
        "notification_id": "the message", "channel": "sms, push or mini_program", "attempts": "tries made",
        "next_attempt_at": "the next try, if any", "last_error": "the last failure", "status": "pending, sent or failed"},
    "home_cards": {"card_type": "the card", "position": "its place on the home screen"},
    "mini_program_bindings": {"appid": "the mini-program", "openid": "your id in that mini-program",
                              "verified_by": "how your phone was confirmed", "last_login_at": "last sign-in"},
    "mini_program_subscriptions": {"topic": "what the messages are about", "remaining": "messages still to come"},
    "social_insurance_proofs": {
        "record_no": "the department's record number", "record_digest": "a digest of the record (signed in its QR)",
        "record": "the department's record", "holder": "the masked name and ID number a verifier is shown",
        "issuer": "the authority keeping the record", "issued_on": "the department's date of the record",
        "pension_months": "months of pension contributions", "personal_account_fen": "pension personal account, in fen",
        "valid_until": "the last day a verifier is told it is valid"},
    "licence_status_checks": {
        "pulled_at": "the last check the department answered", "tried_at": "the last check tried",
        "outcome": "what the last check found", "department_status": "the department's status code"},
    "uploads": {"kind": "jpeg, png or pdf", "content_type": "its media type", "size": "bytes as kept",
                "owner_kind": "what uses it: application, ticket or joint", "owner_id": "which one",
                "attached_at": "when it was attached", "expires_at": "an unused upload is deleted then"},
}


def describe(area: str, field: str) -> str | None:
    """The words of a field of an area, or None when there are none."""
    return AREAS.get(area, {}).get(field) or COMMON.get(field)
