//! A fixed-size bitmap of `u64` words with word-skipping search, the storage
//! behind [`super::SubnetIpam`] (one bit per address of the subnet).

/// `len` bits, all clear at first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bitmap {
    words: Vec<u64>,
    len: u32,
}

impl Bitmap {
    /// A bitmap of `len` clear bits.
    pub(crate) fn new(len: u32) -> Bitmap {
        Bitmap {
            words: vec![0; (len as usize).div_ceil(64)],
            len,
        }
    }

    /// Whether bit `i` is set; false past the end.
    pub(crate) fn get(&self, i: u32) -> bool {
        i < self.len && self.words[(i / 64) as usize] & bit(i) != 0
    }

    /// Sets bit `i`; returns whether it was clear before.
    pub(crate) fn set(&mut self, i: u32) -> bool {
        let w = &mut self.words[(i / 64) as usize];
        let was_clear = *w & bit(i) == 0;
        *w |= bit(i);
        was_clear
    }

    /// Clears bit `i`; returns whether it was set before.
    pub(crate) fn clear(&mut self, i: u32) -> bool {
        let w = &mut self.words[(i / 64) as usize];
        let was_set = *w & bit(i) != 0;
        *w &= !bit(i);
        was_set
    }

    /// Sets bits `lo..=hi`; returns how many of them were clear in both
    /// `self` and `other` before (so a caller can keep a free count).
    pub(crate) fn set_range(&mut self, lo: u32, hi: u32, other: &Bitmap) -> u32 {
        let mut newly = 0;
        for (w, mask) in word_masks(lo, hi) {
            let fresh = mask & !self.words[w] & !other.words[w];
            newly += fresh.count_ones();
            self.words[w] |= mask;
        }
        newly
    }

    /// The first index in `from..to` whose bit is clear in both `self` and
    /// `other`, skipping whole words that are full.
    pub(crate) fn first_clear_in_both(&self, other: &Bitmap, from: u32, to: u32) -> Option<u32> {
        let to = to.min(self.len);
        if from >= to {
            return None;
        }
        for (w, mask) in word_masks(from, to - 1) {
            let free = !(self.words[w] | other.words[w]) & mask;
            if free != 0 {
                return Some(w as u32 * 64 + free.trailing_zeros());
            }
        }
        None
    }
}

fn bit(i: u32) -> u64 {
    1 << (i % 64)
}

/// `(word index, mask of the bits of lo..=hi in that word)` for each word the
/// inclusive range `lo..=hi` touches.
fn word_masks(lo: u32, hi: u32) -> impl Iterator<Item = (usize, u64)> {
    let (first, last) = (lo / 64, hi / 64);
    (first..=last).map(move |w| {
        let start = if w == first { lo % 64 } else { 0 };
        let end = if w == last { hi % 64 } else { 63 };
        // Bits start..=end set.
        let mask = (u64::MAX << start) & (u64::MAX >> (63 - end));
        (w as usize, mask)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_clear_report_the_previous_state() {
        let mut b = Bitmap::new(130);
        assert!(b.set(129));
        assert!(!b.set(129));
        assert!(b.get(129));
        assert!(!b.get(500));
        assert!(b.clear(129));
        assert!(!b.clear(129));
    }

    #[test]
    fn word_masks_cover_exactly_the_range() {
        let masks: Vec<_> = word_masks(3, 3).collect();
        assert_eq!(masks, [(0, 0b1000)]);
        let masks: Vec<_> = word_masks(62, 65).collect();
        assert_eq!(masks, [(0, 0b11 << 62), (1, 0b11)]);
        let masks: Vec<_> = word_masks(0, 191).collect();
        assert_eq!(masks, [(0, u64::MAX), (1, u64::MAX), (2, u64::MAX)]);
    }

    #[test]
    fn set_range_counts_bits_clear_in_both_maps() {
        let mut a = Bitmap::new(200);
        let mut b = Bitmap::new(200);
        a.set(10);
        b.set(11);
        assert_eq!(a.set_range(5, 150, &b), 146 - 2);
        assert!(a.get(5) && a.get(150) && !a.get(4) && !a.get(151));
        assert_eq!(a.set_range(5, 150, &b), 0);
    }

    #[test]
    fn the_first_clear_bit_skips_full_words_and_respects_bounds() {
        let mut a = Bitmap::new(300);
        let b = Bitmap::new(300);
        let none = Bitmap::new(300);
        a.set_range(0, 255, &none);
        assert_eq!(a.first_clear_in_both(&b, 0, 300), Some(256));
        assert_eq!(a.first_clear_in_both(&b, 0, 256), None);
        assert_eq!(a.first_clear_in_both(&b, 290, 300), Some(290));
        assert_eq!(a.first_clear_in_both(&b, 299, 1000), Some(299));
        assert_eq!(a.first_clear_in_both(&b, 300, 300), None);
    }
}
