//! Splitting a list of items into messages bounded by count and by bytes.

use std::ops::Range;

/// SQS's limit on one message body.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Consecutive ranges of items, each at most `max_items` long and, where items allow, at most
/// `max_bytes` by the sum of their `sizes` (an item bigger than `max_bytes` travels alone).
///
/// The split depends only on the sizes given, so a producer that passes the same sizes for
/// the same items (for instance their stored form) gets the same messages, and so the same
/// message ids, when it sends them again after a crash.
pub fn ranges_by_size(sizes: &[usize], max_items: usize, max_bytes: usize) -> Vec<Range<usize>> {
    let max_items = max_items.max(1);
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, size) in sizes.iter().enumerate() {
        let full = i - start == max_items || (i > start && bytes.saturating_add(*size) > max_bytes);
        if full {
            ranges.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes = bytes.saturating_add(*size);
    }
    if start < sizes.len() {
        ranges.push(start..sizes.len());
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_split_by_count_and_by_bytes() {
        assert_eq!(ranges_by_size(&[], 3, 10), Vec::<Range<usize>>::new());
        assert_eq!(ranges_by_size(&[1; 7], 3, 100), vec![0..3, 3..6, 6..7]);
        assert_eq!(ranges_by_size(&[4, 4, 4, 4], 10, 10), vec![0..2, 2..4]);
        // An item over the bound goes alone rather than being dropped.
        assert_eq!(ranges_by_size(&[2, 50, 2], 10, 10), vec![0..1, 1..2, 2..3]);
    }

    proptest::proptest! {
        #[test]
        fn every_item_is_in_exactly_one_range_within_the_bounds(
            sizes in proptest::collection::vec(0usize..5000, 0..300),
            max_items in 1usize..50,
            max_bytes in 1usize..20_000,
        ) {
            let ranges = ranges_by_size(&sizes, max_items, max_bytes);
            let mut next = 0;
            for range in &ranges {
                proptest::prop_assert_eq!(range.start, next);
                proptest::prop_assert!(!range.is_empty() && range.len() <= max_items);
                let bytes: usize = sizes[range.clone()].iter().sum();
                proptest::prop_assert!(bytes <= max_bytes || range.len() == 1);
                next = range.end;
            }
            proptest::prop_assert_eq!(next, sizes.len());
        }
    }
}
