use std::collections::{HashMap, VecDeque};

/// A map that forgets its oldest entries past a capacity: the simulator
/// keeps state in memory and must not grow without bound under a benchmark.
#[derive(Debug)]
pub struct BoundedMap<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
    capacity: usize,
}

impl<V> BoundedMap<V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Inserts, returning what was evicted to make room.
    pub fn insert(&mut self, key: String, value: V) -> Option<(String, V)> {
        if self.map.insert(key.clone(), value).is_some() {
            return None;
        }
        self.order.push_back(key);
        if self.order.len() <= self.capacity {
            return None;
        }
        let oldest = self.order.pop_front()?;
        self.map.remove(&oldest).map(|v| (oldest, v))
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Values oldest first.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.order.iter().filter_map(|k| self.map.get(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_oldest_past_capacity() {
        let mut map = BoundedMap::new(2);
        assert!(map.insert("a".into(), 1).is_none());
        assert!(map.insert("b".into(), 2).is_none());
        assert!(map.insert("a".into(), 3).is_none());
        assert_eq!(map.insert("c".into(), 4), Some(("a".into(), 3)));
        assert_eq!(map.len(), 2);
        assert_eq!(map.values().copied().collect::<Vec<_>>(), vec![2, 4]);
    }
}
