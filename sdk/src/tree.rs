//! Folders from a flat listing.
//!
//! Object stores list paths, not folders. Because listings come in
//! lexicographic order, a folder's contents are contiguous: tracking only the
//! chain of folders of the current path is enough to emit each folder once,
//! in memory bounded by the depth of the tree, however many objects there are.

use crate::qualified_name::join;

#[derive(Default)]
pub struct FolderTrail {
    current: Vec<String>,
    /// Qualified name of the current folder, computed once per folder.
    qualified_name: Option<String>,
}

impl FolderTrail {
    pub fn new() -> Self {
        Self::default()
    }

    /// The folders of `object_path` not yet seen, outermost first, as paths
    /// from the listing's root.
    pub fn enter(&mut self, object_path: &str) -> Vec<String> {
        let folders: Vec<&str> = match object_path.rsplit_once('/') {
            Some((dir, _)) => dir.split('/').collect(),
            None => Vec::new(),
        };
        let common = self.current.iter().zip(&folders).take_while(|(a, b)| a == b).count();
        if common != self.current.len() || common != folders.len() {
            self.qualified_name = None;
        }
        self.current.truncate(common);
        let mut new = Vec::new();
        for segment in &folders[common..] {
            self.current.push(segment.to_string());
            new.push(self.current.join("/"));
        }
        new
    }

    /// The qualified name of the folder last entered (`root` itself at the top).
    pub fn qualified_name(&mut self, root: &str) -> &str {
        let current = &self.current;
        self.qualified_name.get_or_insert_with(|| join(root, &current.join("/")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_folder_is_entered_once_in_listing_order() {
        let mut t = FolderTrail::new();
        assert_eq!(t.enter("a.txt"), Vec::<String>::new());
        assert_eq!(t.qualified_name("s://r"), "s://r");
        assert_eq!(t.enter("x/y/1"), ["x", "x/y"]);
        assert_eq!(t.enter("x/y/2"), Vec::<String>::new());
        assert_eq!(t.qualified_name("s://r"), "s://r/x/y");
        assert_eq!(t.enter("x/z/3"), ["x/z"]);
        assert_eq!(t.enter("y"), Vec::<String>::new());
        assert_eq!(t.qualified_name("s://r"), "s://r");
    }
}
