//! Every error a handler meets, turned into an [`ApiError`]: one `From` impl per error type of
//! the store and the workflows, all here, so that one failure answers with one status wherever
//! it comes from. What each [`ApiError`] answers (status, problem type) is in [`super`].

use super::ApiError;
use crate::domain::access::Forbidden;
use crate::domain::{Conflict, ValidationErrors};
use crate::store::StoreError;
use crate::workflow::ServiceError;
use crate::workflow::deals::DealError;
use crate::workflow::held_lines::ReleaseError;
use crate::workflow::webhooks::ReceiveError;

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Validation(errors)
    }
}

/// A caller refused for its role, by [`crate::domain::access`].
impl From<Forbidden> for ApiError {
    fn from(refused: Forbidden) -> Self {
        ApiError::Forbidden(refused.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            // A failed conditional write: someone else changed the record first.
            StoreError::Conflict(conflict) => ApiError::Conflict(conflict),
            StoreError::InvalidCursor => ApiError::BadRequest(err.to_string()),
            StoreError::Unavailable(detail) => ApiError::Unavailable(detail),
            StoreError::Corrupt { .. } | StoreError::Backend(_) => {
                ApiError::Internal(err.to_string())
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Invalid(errors) => ApiError::Validation(errors),
            ServiceError::Forbidden(why) => ApiError::Forbidden(why),
            ServiceError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            ServiceError::Conflict(conflict) => ApiError::Conflict(conflict),
            ServiceError::Store(err) => err.into(),
            ServiceError::Publish(err) => ApiError::Unavailable(err.to_string()),
            ServiceError::Documents(why) => ApiError::Unavailable(why),
        }
    }
}

impl From<DealError> for ApiError {
    fn from(err: DealError) -> Self {
        match err {
            DealError::Invalid(errors) => ApiError::Validation(errors),
            DealError::Forbidden(why) => ApiError::Forbidden(why),
            DealError::NotFound(id) => ApiError::NotFound(format!("deal {id} not found")),
            // A decision on a decided deal, or expiry before its time: the state is not right.
            DealError::Transition(why) => {
                ApiError::Conflict(Conflict::invalid_state(why.to_string()))
            }
            DealError::Store(err) => err.into(),
            DealError::Publish(err) => ApiError::Unavailable(err.to_string()),
        }
    }
}

impl From<ReceiveError> for ApiError {
    fn from(err: ReceiveError) -> Self {
        match err {
            ReceiveError::Unauthenticated(why) => ApiError::SignatureRefused(why),
            ReceiveError::BadRequest(why) => ApiError::BadRequest(why),
            ReceiveError::Forbidden(why) => ApiError::Forbidden(why),
            ReceiveError::Conflict(conflict) => ApiError::Conflict(conflict),
            ReceiveError::Service(err) => err.into(),
        }
    }
}

impl From<ReleaseError> for ApiError {
    fn from(err: ReleaseError) -> Self {
        match err {
            ReleaseError::Invalid(errors) => ApiError::Validation(errors),
            ReleaseError::Store(err) => err.into(),
            ReleaseError::Publish(err) => ApiError::Unavailable(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::StatusCode;

    use super::*;
    use crate::domain::deal::{DealStatus, TransitionError};
    use crate::messaging::PublishError;

    /// Status, problem type (after `/problems/`) and detail of what `err` answers.
    fn answer(err: impl Into<ApiError>) -> (StatusCode, String, String) {
        let err = err.into();
        let body: serde_json::Value =
            serde_json::from_slice(err.to_response().body().as_ref()).expect("a JSON problem");
        let kind = body["type"].as_str().expect("a type");
        (
            err.status(),
            kind.trim_start_matches("https://tributary.dev/problems/")
                .to_string(),
            body["detail"].as_str().expect("a detail").to_string(),
        )
    }

    fn publish_error() -> PublishError {
        PublishError::TooLarge {
            id: "m1".into(),
            size: 300_000,
        }
    }

    #[test]
    fn a_refused_role_is_a_403_with_its_words() {
        assert_eq!(
            answer(Forbidden("programs are for vendor staff".into())),
            (
                StatusCode::FORBIDDEN,
                "forbidden".into(),
                "programs are for vendor staff".into()
            )
        );
    }

    #[test]
    fn store_errors() {
        assert_eq!(
            answer(StoreError::NotFound("partner p".into())),
            (
                StatusCode::NOT_FOUND,
                "not-found".into(),
                "partner p not found".into()
            )
        );
        assert_eq!(
            answer(StoreError::Conflict(Conflict::stale_version(
                "deal d changed meanwhile"
            ))),
            (
                StatusCode::CONFLICT,
                "conflict/stale-version".into(),
                "deal d changed meanwhile".into()
            )
        );
        assert_eq!(
            answer(StoreError::InvalidCursor),
            (
                StatusCode::BAD_REQUEST,
                "bad-request".into(),
                "the page cursor is not valid: pass the next_cursor of the same listing back unchanged".into()
            )
        );
        assert_eq!(
            answer(StoreError::Unavailable("throttled".into())).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let corrupt = StoreError::Corrupt {
            key: "k".into(),
            reason: "r".into(),
        };
        assert_eq!(answer(corrupt).0, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn service_errors() {
        assert_eq!(
            answer(ServiceError::Forbidden(
                "deciding claims is for vendor_admin".into()
            )),
            (
                StatusCode::FORBIDDEN,
                "forbidden".into(),
                "deciding claims is for vendor_admin".into()
            )
        );
        assert_eq!(
            answer(ServiceError::NotFound("claim c".into())),
            (
                StatusCode::NOT_FOUND,
                "not-found".into(),
                "claim c not found".into()
            )
        );
        assert_eq!(
            answer(ServiceError::Conflict(Conflict::limit_reached(
                "at most 10"
            ))),
            (
                StatusCode::CONFLICT,
                "conflict/limit-reached".into(),
                "at most 10".into()
            )
        );
        assert_eq!(
            answer(ServiceError::Store(StoreError::NotFound("fund f".into()))).2,
            "fund f not found"
        );
        assert_eq!(
            answer(ServiceError::Publish(publish_error())).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            answer(ServiceError::Documents("timeout".into())).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let invalid = ValidationErrors::single("reason", "required");
        assert_eq!(
            answer(ServiceError::Invalid(invalid)).0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn deal_errors() {
        assert_eq!(
            answer(DealError::NotFound("d1".into())),
            (
                StatusCode::NOT_FOUND,
                "not-found".into(),
                "deal d1 not found".into()
            )
        );
        let decided = TransitionError::NotAllowed {
            status: DealStatus::Approved,
            action: "approved",
        };
        assert_eq!(
            answer(DealError::Transition(decided)),
            (
                StatusCode::CONFLICT,
                "conflict/invalid-state".into(),
                "deal is approved and cannot be approved".into()
            )
        );
        assert_eq!(
            answer(DealError::Forbidden("only partners register deals".into())).0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            answer(DealError::Publish(publish_error())).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn receive_errors() {
        assert_eq!(
            answer(ReceiveError::Unauthenticated("signature expired".into())),
            (
                StatusCode::UNAUTHORIZED,
                "invalid-signature".into(),
                "signature expired".into()
            )
        );
        assert_eq!(
            answer(ReceiveError::BadRequest("not an event".into())).0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            answer(ReceiveError::Forbidden("not a type of this source".into())).0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            answer(ReceiveError::Conflict(Conflict::already_exists(
                "received before"
            )))
            .1,
            "conflict/already-exists"
        );
        assert_eq!(
            answer(ReceiveError::Service(ServiceError::NotFound(
                "source s".into()
            )))
            .2,
            "source s not found"
        );
    }

    #[test]
    fn release_errors() {
        let invalid = ValidationErrors::single("reseller_name", "1 to 200 characters");
        assert_eq!(
            answer(ReleaseError::Invalid(invalid)).0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            answer(ReleaseError::Store(StoreError::Conflict(
                Conflict::stale_version("x")
            )))
            .1,
            "conflict/stale-version"
        );
        assert_eq!(
            answer(ReleaseError::Publish(publish_error())).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
