//! The one paging parser of every listing: `?limit=` (1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when
//! absent) and the opaque `?cursor=` of the previous page's `next_cursor`. A bad limit is a 422
//! naming `limit`; a cursor the store cannot decode is a 400 (see `StoreError::InvalidCursor`).

use lambda_http::{Request, RequestExt};

use crate::domain::ValidationErrors;
use crate::http::ApiError;

pub const DEFAULT_LIMIT: i32 = 50;
pub const MAX_LIMIT: i32 = 100;

/// One page's request: how many items, and after which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: i32,
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The paging of `request`, its faults added to `errors` beside the listing's other
    /// query parameters (so that a caller learns every fault at once).
    pub fn read(request: &Request, errors: &mut ValidationErrors) -> PageRequest {
        let query = request.query_string_parameters_ref();
        let first = |name: &str| query.and_then(|q| q.first(name));
        parse(first("limit"), first("cursor"), errors)
    }

    /// The paging of a listing that takes no other query parameter.
    pub fn from_request(request: &Request) -> Result<PageRequest, ApiError> {
        let mut errors = ValidationErrors::new();
        let page = Self::read(request, &mut errors);
        errors.into_result(page).map_err(ApiError::from)
    }

    /// The `limit` of a listing that shows only its newest items: a `cursor` is refused rather
    /// than ignored, so that a client never takes the first page for the next one.
    pub fn newest_only(request: &Request) -> Result<i32, ApiError> {
        let mut errors = ValidationErrors::new();
        let page = Self::read(request, &mut errors);
        if page.cursor.is_some() {
            errors.add(
                "cursor",
                "this listing shows the newest items only; it has no next page",
            );
        }
        errors.into_result(page.limit).map_err(ApiError::from)
    }
}

/// The rule itself, without a request.
pub fn parse(
    limit: Option<&str>,
    cursor: Option<&str>,
    errors: &mut ValidationErrors,
) -> PageRequest {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(text) => match text.trim().parse::<i32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                errors.add("limit", format!("an integer from 1 to {MAX_LIMIT}"));
                DEFAULT_LIMIT
            }
        },
    };
    PageRequest {
        limit,
        cursor: cursor.filter(|c| !c.is_empty()).map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let page = parse(limit, cursor, &mut errors);
        errors.into_result(page)
    }

    #[test]
    fn absent_parameters_are_the_first_page_of_the_default_size() {
        assert_eq!(
            page(None, None),
            Ok(PageRequest {
                limit: DEFAULT_LIMIT,
                cursor: None
            })
        );
        assert_eq!(page(None, Some("")).unwrap().cursor, None);
    }

    #[test]
    fn limits_from_1_to_100_are_taken() {
        assert_eq!(page(Some("1"), None).unwrap().limit, 1);
        assert_eq!(page(Some("100"), Some("abc")).unwrap().limit, 100);
        assert_eq!(
            page(Some("7"), Some("abc")).unwrap().cursor.as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn any_other_limit_names_the_field() {
        for bad in ["0", "101", "-1", "ten", "", "1.5", "99999999999"] {
            let errors = page(Some(bad), None).unwrap_err();
            assert_eq!(errors.0.len(), 1, "{bad:?}");
            assert_eq!(errors.0[0].field, "limit", "{bad:?}");
            assert_eq!(errors.0[0].message, "an integer from 1 to 100");
        }
    }
}
