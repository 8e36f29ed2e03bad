//! Did you mean…? The words near enough to a typo to be what was meant: config keys,
//! metric names, product ids and names, groups.

/// "`task` or `tags`": the choices near enough to `word` to be what a typo meant, every one
/// as near as the nearest (`taks` is one step from both).
pub fn nearest(word: &str, choices: &[&str]) -> Option<String> {
    let near: Vec<(usize, &str)> =
        choices.iter().map(|c| (edit_distance(word, c), *c)).filter(|(d, c)| *d <= 2.max(c.len() / 3)).collect();
    let nearest = near.iter().map(|(d, _)| *d).min()?;
    let mut best: Vec<String> = Vec::new();
    for (_, c) in near.iter().filter(|(d, _)| *d == nearest) {
        let said = format!("`{c}`");
        if !best.contains(&said) {
            best.push(said);
        }
    }
    Some(best.join(" or "))
}

/// Edits from `a` to `b`, where swapping two neighbouring letters is one edit (the commonest
/// typo: `taks` for `task`), as are an insertion, a deletion and a substitution.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: edits from a[..i] to b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = d[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_of_neighbours_is_one_edit() {
        let cases = [("taks", "task", 1), ("taks", "tags", 1), ("", "url", 3), ("url", "url", 0), ("ab", "ba", 1)];
        for (a, b, edits) in cases {
            assert_eq!(edit_distance(a, b), edits, "{a} -> {b}");
        }
        assert_eq!(edit_distance("abc", "ca"), 3, "no edit of a swapped pair");
    }

    #[test]
    fn the_nearest_choices_are_named_together() {
        assert_eq!(nearest("taks", &["task", "tags", "model"]).as_deref(), Some("`task` or `tags`"));
        assert_eq!(nearest("zzzz", &["task"]), None);
        assert_eq!(nearest("Stagin", &["Staging", "Staging"]).as_deref(), Some("`Staging`"), "said once");
    }
}
