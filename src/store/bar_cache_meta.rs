//! What a cache file holds besides bars (its `.meta.json` sidecar): the price adjustment and
//! the feed of every bar in it, and the refusals that keep two of either out of one file.

use super::*;

/// Alpaca's `adjustment` of bar prices. One file holds one adjustment: a split-adjusted bar
/// next to a raw one is a fake jump (a 4-for-1 split reads as a 75% fall) that a strategy
/// would trade on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Adjustment {
    #[default]
    Raw,
    Split,
    Dividend,
    All,
}

impl Adjustment {
    /// The value of Alpaca's `adjustment` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Adjustment::Raw => "raw",
            Adjustment::Split => "split",
            Adjustment::Dividend => "dividend",
            Adjustment::All => "all",
        }
    }
}

impl std::fmt::Display for Adjustment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Adjustment {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Adjustment, String> {
        match s {
            "raw" => Ok(Adjustment::Raw),
            "split" => Ok(Adjustment::Split),
            "dividend" => Ok(Adjustment::Dividend),
            "all" => Ok(Adjustment::All),
            _ => Err(format!(
                "unknown adjustment `{s}` (expected raw, split, dividend or all)"
            )),
        }
    }
}

/// Where a file's bars came from. Volumes are the reason it matters: IEX sees a few percent
/// of the consolidated (SIP) volume (about 34 thousand shares a day against 1.15 million in
/// the case), so a volume feature computed across a switch reads as a crash in
/// volume, and a model trained on one feed misreads the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BarFeed {
    Iex,
    Sip,
    /// `import`ed from a file: the source's volumes, feed unknown.
    Import,
}

impl BarFeed {
    pub fn as_str(self) -> &'static str {
        match self {
            BarFeed::Iex => "iex",
            BarFeed::Sip => "sip",
            BarFeed::Import => "import",
        }
    }
}

impl std::fmt::Display for BarFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<crate::config::Feed> for BarFeed {
    fn from(f: crate::config::Feed) -> BarFeed {
        match f {
            crate::config::Feed::Iex => BarFeed::Iex,
            crate::config::Feed::Sip => BarFeed::Sip,
        }
    }
}

/// What a cache file holds besides bars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheMeta {
    /// The price adjustment of every bar in the file.
    pub adjustment: Adjustment,
    /// The feed of its bars; `None` when unknown (a file the tick started, or one written
    /// before feeds were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<BarFeed>,
    /// The earliest start a `fetch` asked for: history before the first bar and after this
    /// does not exist, so a later fetch from the same start need not ask again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered_from: Option<DateTime<Utc>>,
}

impl Default for CacheMeta {
    fn default() -> Self {
        CacheMeta {
            adjustment: Adjustment::Raw,
            feed: None,
            covered_from: None,
        }
    }
}

impl CacheMeta {
    /// The feed to record after writing `feed` bars into a file with this metadata that
    /// holds bars (`has_bars`), or why they must not go in:
    /// - an empty or new file takes the feed written;
    /// - a file whose feed is unknown stays unknown (its old bars' feed is not known);
    /// - IEX bars never go into a SIP file, nor SIP into IEX: that is the mix that breaks
    ///   volume features;
    /// - imported bars go into no fetched file, but live bars may top up an imported one,
    ///   which stays `import` (the history is imported; a model trained on it is warned
    ///   about on every tick, and the drift guard watches the volumes).
    pub fn feed_after(
        &self,
        has_bars: bool,
        feed: BarFeed,
    ) -> std::result::Result<Option<BarFeed>, String> {
        if !has_bars {
            return Ok(Some(feed));
        }
        match self.feed {
            None => Ok(None),
            Some(have) if have == feed => Ok(Some(have)),
            Some(BarFeed::Import) => Ok(Some(BarFeed::Import)),
            Some(have) => Err(format!(
                "holds {have} bars; refusing to mix in {feed} bars (their volumes are not comparable)"
            )),
        }
    }
}

/// See [`BarCache::check_adjustment`]; `exists`: whether `file` exists (the caller knows, or
/// asks the file system).
pub(super) fn same_adjustment(
    file: &Path,
    exists: bool,
    have: &CacheMeta,
    adjustment: Adjustment,
) -> Result<()> {
    if exists && have.adjustment != adjustment {
        return Err(Error::Refused(format!(
            "{} holds `{}`-adjusted bars; refusing to mix in `{adjustment}` bars. Use --adjustment {} \
             or move the file aside to start over",
            file.display(),
            have.adjustment,
            have.adjustment
        )));
    }
    Ok(())
}

/// Whether a cache file of `len` bytes holds a bar (more than its header line).
pub(super) fn holds_bars(len: u64) -> bool {
    len > HEADER.len() as u64 + 1
}

/// See [`BarCache::check_feed`]; `len`: the file's length (0 if it does not exist).
pub(super) fn feed_after(
    file: &Path,
    len: u64,
    have: &CacheMeta,
    feed: BarFeed,
) -> Result<Option<BarFeed>> {
    have.feed_after(holds_bars(len), feed).map_err(|why| {
        Error::Refused(format!(
            "{} {why}. Use the [alpaca] feed (or --feed) it was fetched with, or move the file aside to start over",
            file.display()
        ))
    })
}
