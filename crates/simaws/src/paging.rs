//! How the simulator cuts list results into pages, the way AWS does.
//!
//! AWS does not promise full pages: a page may hold fewer items than `MaxResults`
//! while more follow, and a list that ends exactly on a page boundary may still
//! return a `NextToken` that leads to one empty page. The simulator does both,
//! deterministically, so a client that stops on a short page loses data here just
//! as it would against AWS. Tests use [`page_count`] to know how many calls a
//! correct client makes.

/// The items of page `index` (0-based) that starts at `offset`: `(len, has_next)`.
fn page_at(index: usize, offset: usize, total: usize, max_results: usize) -> (usize, bool) {
    // Every third page is short: about half of MaxResults.
    let size = if index % 3 == 1 { max_results.div_ceil(2) } else { max_results };
    let len = size.min(total.saturating_sub(offset));
    let end = offset + len;
    // A full page that ends the list still carries a token, which leads to an empty page.
    let has_next = end < total || (len == max_results && len > 0 && end == total);
    (len, has_next)
}

/// The page served for a request: the item range and the token for the next page.
pub fn page(token: Option<&str>, total: usize, max_results: usize) -> Result<Page, InvalidToken> {
    let (index, offset) = match token {
        None => (0, 0),
        Some(t) => decode_token(t).ok_or(InvalidToken)?,
    };
    if offset > total {
        return Err(InvalidToken);
    }
    let (len, has_next) = page_at(index, offset, total, max_results.max(1));
    Ok(Page { range: offset..offset + len, next_token: has_next.then(|| encode_token(index + 1, offset + len)) })
}

/// How many calls a client that follows `NextToken` until it is absent makes.
pub fn page_count(total: usize, max_results: usize) -> usize {
    let mut token: Option<String> = None;
    let mut calls = 0;
    loop {
        calls += 1;
        let p = page(token.as_deref(), total, max_results).expect("tokens we issue are valid");
        match p.next_token {
            Some(t) => token = Some(t),
            None => return calls,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub range: std::ops::Range<usize>,
    pub next_token: Option<String>,
}

/// A `NextToken` the simulator did not issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidToken;

// Tokens look like AWS's (letters and digits) and carry the page index and offset.
fn encode_token(index: usize, offset: usize) -> String {
    format!("p{index}o{offset}")
}

fn decode_token(token: &str) -> Option<(usize, usize)> {
    let rest = token.strip_prefix('p')?;
    let (index, offset) = rest.split_once('o')?;
    Some((index.parse().ok()?, offset.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(total: usize, max: usize) -> Vec<usize> {
        let mut token = None;
        let mut sizes = Vec::new();
        loop {
            let p = page(token.as_deref(), total, max).expect("valid");
            sizes.push(p.range.len());
            match p.next_token {
                Some(t) => token = Some(t),
                None => return sizes,
            }
        }
    }

    #[test]
    fn a_short_page_comes_before_the_last_one() {
        assert_eq!(walk(230, 100), vec![100, 50, 80]);
    }

    #[test]
    fn a_list_ending_on_a_full_page_is_followed_by_one_empty_page() {
        assert_eq!(walk(200, 100), vec![100, 50, 50]);
        assert_eq!(walk(250, 100), vec![100, 50, 100, 0]);
        assert_eq!(walk(100, 100), vec![100, 0]);
        assert_eq!(page_count(100, 100), 2);
    }

    #[test]
    fn every_item_is_served_exactly_once() {
        for total in 0..420 {
            assert_eq!(walk(total, 100).iter().sum::<usize>(), total, "total {total}");
        }
    }

    #[test]
    fn an_empty_list_is_one_empty_page() {
        assert_eq!(walk(0, 100), vec![0]);
    }

    #[test]
    fn a_forged_token_is_rejected() {
        assert_eq!(page(Some("garbage"), 10, 5), Err(InvalidToken));
        assert_eq!(page(Some("p1o99"), 10, 5), Err(InvalidToken));
    }
}
