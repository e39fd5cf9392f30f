/**
 * Every `error` code the BFF itself answers with (`{"error": code, "error_description": text}`).
 * See docs/errors.md for the HTTP status and meaning of each one.
 */
export const BFF_ERROR_CODES: readonly ["invalid_request", "malformed_body", "invalid_return_to", "parameter_not_allowed", "authorization_details_not_allowed", "authorization_error", "login_failed", "payload_too_large", "headers_too_large", "invalid_logout_token", "not_found", "method_not_allowed", "path_not_allowed", "session_required", "session_expired", "login_transaction_missing", "login_transaction_used", "forbidden", "csrf_failed", "origin_not_allowed", "step_up_required", "authorization_missing", "upstream_failure", "as_unreachable", "as_timeout", "as_error", "use_dpop_nonce", "protocol_violation", "state_mismatch", "iss_missing", "iss_mismatch", "id_token_invalid", "nonce_mismatch", "acr_not_satisfied", "bearer_downgrade", "dpop_binding_missing", "invalid_token_response", "invalid_metadata", "invalid_par_response", "invalid_jarm_response", "api_unreachable", "api_timeout", "store_unavailable", "server_error"];
export type BffErrorCode = (typeof BFF_ERROR_CODES)[number];
