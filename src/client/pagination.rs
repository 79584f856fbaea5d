//! The four pagination schemes of fgs-api.md §0.3, as pure "what next" rules plus async
//! collectors that follow them to the end.
//!
//! | scheme | routes | request | response |
//! |---|---|---|---|
//! | marker/maxitems | functions, versions, dependencies, dependency versions | `marker`, `maxitems` | `next_marker`, `count` |
//! | limit/offset | workflows, workflow executions | `limit`, `offset` | `total`, `size` |
//! | marker/limit + page_info | async-invoke configs | `marker`, `limit` | `count`, `page_info.next_marker` |
//! | none | triggers, aliases | — | a bare JSON array |
//!
//! The stop rules are defensive (as the Terraform provider's): an empty page, a marker
//! that does not move or goes back to 0, or one that reaches the total all end the walk,
//! and a page cap guards against a server that never says stop.

#[cfg(test)]
use super::boxed;
use super::error::ApiError;
use super::BoxFut;

/// Safety cap on pages per walk.
pub const MAX_PAGES: usize = 10_000;

/// marker/maxitems and marker/limit: the marker of the next page, or `None` when done.
pub fn next_marker(marker: i64, returned: usize, next_marker: Option<i64>, count: Option<i64>) -> Option<i64> {
    if returned == 0 {
        return None;
    }
    let next = next_marker.unwrap_or(marker + returned as i64);
    if next <= marker || next == 0 {
        return None;
    }
    match count {
        Some(total) if next >= total => None,
        _ => Some(next),
    }
}

/// limit/offset: the offset of the next page, or `None` when done.
pub fn next_offset(offset: i64, returned: usize, total: Option<i64>) -> Option<i64> {
    if returned == 0 {
        return None;
    }
    let next = offset + returned as i64;
    match total {
        Some(total) if next >= total => None,
        _ => Some(next),
    }
}

/// One marker page: items, `next_marker`, `count`.
pub type MarkerPage<T> = (Vec<T>, Option<i64>, Option<i64>);

/// Follows a marker scheme (marker/maxitems, or marker/limit with `page_info`) from
/// marker 0: `fetch(marker)` returns one page.
pub async fn collect_marker<'f, T>(
    mut fetch: impl FnMut(i64) -> BoxFut<'f, MarkerPage<T>>,
) -> Result<Vec<T>, ApiError> {
    let mut all = Vec::new();
    let mut marker = 0;
    for _ in 0..MAX_PAGES {
        let (items, next, count) = fetch(marker).await?;
        let returned = items.len();
        all.extend(items);
        match next_marker(marker, returned, next, count) {
            Some(n) => marker = n,
            None => break,
        }
    }
    Ok(all)
}

/// Follows limit/offset from offset 0: `fetch(offset)` returns items and `total`.
pub async fn collect_offset<'f, T>(
    mut fetch: impl FnMut(i64) -> BoxFut<'f, (Vec<T>, Option<i64>)>,
) -> Result<Vec<T>, ApiError> {
    let mut all = Vec::new();
    let mut offset = 0;
    for _ in 0..MAX_PAGES {
        let (items, total) = fetch(offset).await?;
        let returned = items.len();
        all.extend(items);
        match next_offset(offset, returned, total) {
            Some(n) => offset = n,
            None => break,
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_rules() {
        assert_eq!(next_marker(0, 400, Some(400), Some(1000)), Some(400));
        assert_eq!(
            next_marker(800, 200, Some(1000), Some(1000)),
            None,
            "last page: next == count"
        );
        assert_eq!(next_marker(0, 0, Some(0), Some(0)), None, "empty");
        assert_eq!(next_marker(5, 2, Some(5), None), None, "marker did not move");
        assert_eq!(next_marker(5, 2, Some(0), None), None, "marker reset");
        assert_eq!(next_marker(0, 2, None, Some(10)), Some(2), "no next_marker: count on");
    }

    #[test]
    fn offset_rules() {
        assert_eq!(next_offset(0, 200, Some(450)), Some(200));
        assert_eq!(next_offset(400, 50, Some(450)), None);
        assert_eq!(next_offset(0, 0, None), None);
        assert_eq!(next_offset(0, 3, None), Some(3));
    }

    #[tokio::test]
    async fn collectors_walk_every_page() {
        let data: Vec<u32> = (0..23).collect();
        let data = &data;
        let pages = &std::sync::atomic::AtomicUsize::new(0);
        let got = collect_marker(|m| {
            boxed(async move {
                pages.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let items: Vec<u32> = data.iter().copied().skip(m as usize).take(5).collect();
                Ok((items.clone(), Some(m + items.len() as i64), Some(23)))
            })
        })
        .await
        .unwrap();
        assert_eq!(&got, data);
        assert_eq!(pages.load(std::sync::atomic::Ordering::Relaxed), 5);
        let got = collect_offset(|o| {
            boxed(async move { Ok((data.iter().copied().skip(o as usize).take(10).collect(), Some(23))) })
        })
        .await
        .unwrap();
        assert_eq!(&got, data);
        // A server that never advances stops after one page instead of looping.
        let got = collect_marker(|_| boxed(async move { Ok((vec![1], Some(0), None)) }))
            .await
            .unwrap();
        assert_eq!(got, vec![1]);
    }
}
