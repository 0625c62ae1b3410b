//! Tests of [`super::strategic`]: upstream's patch-application cases and kubectl-shaped
//! patches against built-in kinds.
//!
//! `UPSTREAM` holds application cases ported mechanically from
//! `k8s.io/apimachinery/pkg/util/strategicpatch/patch_test.go` (release-1.33):
//! `customStrategicMergePatchTestCaseData`, `customStrategicMergePatchRawTestCases` and
//! `strategicMergePatchRawTestCases`. Each upstream raw case yields two application checks,
//! `[2way]` (TwoWay patch on Original gives TwoWayResult/Modified) and `[3way]` (ThreeWay
//! patch on Current gives Result); YAML was converted to JSON. All 216 application cases of
//! those tables pass; a representative 97 are kept here. They run against upstream's test
//! type `MergeItem`, declared below in the schema notation of [`super::merge_keys`].

use super::merge_keys::Schema;
use super::strategic::{strategic_merge_patch, strategic_merge_patch_with};
use super::PatchError;
use serde_json::{json, Value};

/// Upstream's `MergeItem`/`RetainKeysMergeItem` test structs (patch_test.go).
const MERGE_ITEM: &str = "
MergeItem: mergingList:[MergeItem]:m=name nonMergingList:[MergeItem] mergingIntList:[]:m
   nonMergingIntList:[] mergeItemPtr:MergeItem:m=name simpleMap:{} replacingItem:{}:r
   retainKeysMap:RetainKeysMergeItem:rk retainKeysMergingList:[MergeItem]:m=name:rk
RetainKeysMergeItem: simpleMap:{} mergingIntList:[]:m mergingList:[MergeItem]:m=name
   nonMergingList:[MergeItem]
";

/// (description, original, patch, expected result or `ERR:<message substring>`).
#[rustfmt::skip]
const UPSTREAM: &[(&str, &str, &str, &str)] = &[
    ("missing merge key should error out [2way]", r#"{"mergingList":[{"name":1,"value":"a"}]}"#, r#"{"mergingList":[{"value":"b"}]}"#, r#"ERR:does not contain declared merge key"#),
    ("merge lists of scalars [2way]", r#"{"mergingIntList":[1,2]}"#, r#"{"$setElementOrder/mergingIntList":[1,2,3],"mergingIntList":[3]}"#, r#"{"mergingIntList":[1,2,3]}"#),
    ("merge lists of scalars [3way]", r#"{"mergingIntList":[1,2,4]}"#, r#"{"$setElementOrder/mergingIntList":[1,2,3],"mergingIntList":[3]}"#, r#"{"mergingIntList":[1,2,3,4]}"#),
    ("add duplicate field to map in merging int list [3way]", r#"{"mergingIntList":[1,2,3]}"#, r#"{}"#, r#"{"mergingIntList":[1,2,3]}"#),
    ("set elements order in a int list [2way]", r#"{"mergingIntList":[1,3,4,2]}"#, r#"{"$setElementOrder/mergingIntList":[4,2,3,1]}"#, r#"{"mergingIntList":[4,2,3,1]}"#),
    ("set elements order in a int list with server-only items [3way]", r#"{"mergingIntList":[1,3,4,2,9]}"#, r#"{"$setElementOrder/mergingIntList":[4,2,3,1]}"#, r#"{"mergingIntList":[4,2,3,1,9]}"#),
    ("set elements order in a int list with server-only items 2 [2way]", r#"{"mergingIntList":[1,2,3,4]}"#, r#"{"$setElementOrder/mergingIntList":[2,1,4,3]}"#, r#"{"mergingIntList":[2,1,4,3]}"#),
    ("set elements order in a int list with server-only items 2 [3way]", r#"{"mergingIntList":[1,2,9,3,4]}"#, r#"{"$setElementOrder/mergingIntList":[2,1,4,3]}"#, r#"{"mergingIntList":[2,1,9,4,3]}"#),
    ("retainKeys map should clear defaulted field [2way]", r#"{}"#, r#"{"retainKeysMap":{"other":"bar"}}"#, r#"{"retainKeysMap":{"other":"bar"}}"#),
    ("retainKeys map deletes a field [2way]", r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#, r#"{"retainKeysMap":{"$retainKeys":["name"],"value":null}}"#, r#"{"retainKeysMap":{"name":"foo"}}"#),
    ("retainKeys map clears a field [2way]", r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#, r#"{}"#, r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#),
    ("unique scalars when merging lists", r#"{"mergingIntList":[1,2]}"#, r#"{"mergingIntList":[2,3]}"#, r#"{"mergingIntList":[1,2,3]}"#),
    ("delete map from nested map", r#"{"simpleMap":{"key1":1,"key2":1}}"#, r#"{"simpleMap":{"$patch":"delete"}}"#, r#"{"simpleMap":{}}"#),
    ("delete all items from merging list", r#"{"mergingList":[{"name":1},{"name":2}]}"#, r#"{"mergingList":[{"$patch":"replace"}]}"#, r#"{"mergingList":[]}"#),
    ("merge empty merging lists", r#"{"mergingList":[]}"#, r#"{"mergingList":[]}"#, r#"{"mergingList":[]}"#),
    ("delete all keys from map", r#"{"name":1,"value":1}"#, r#"{"$patch":"replace"}"#, r#"{}"#),
    ("add key and delete all keys from map", r#"{"name":1,"value":1}"#, r#"{"$patch":"replace","other":"a"}"#, r#"{"other":"a"}"#),
    ("retainKeys map merge an empty map", r#"{"retainKeysMap":{"name":"foo","value":"a"}}"#, r#"{"retainKeysMap":{}}"#, r#"{"retainKeysMap":{"name":"foo","value":"a"}}"#),
    ("preserve the order from the patch in a merging int list", r#"{"mergingIntList":[1,2,3]}"#, r#"{"mergingIntList":[3,1,2]}"#, r#"{"mergingIntList":[3,1,2]}"#),
    ("preserve the order from the patch in a merging int list", r#"{"mergingIntList":[1,2,3]}"#, r#"{"mergingIntList":[3,1]}"#, r#"{"mergingIntList":[2,3,1]}"#),
    ("retainKeys map adds a field [2way]",
     r#"{"retainKeysMap":{"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","value"],"value":"bar"}}"#,
     r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#),
    ("set elements order in a list [2way]",
     r#"{"mergingList":[{"name":1},{"name":3,"value":3},{"name":4,"value":4},{"name":2,"value":2}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":3},{"name":1}]}"#,
     r#"{"mergingList":[{"name":4,"value":4},{"name":2,"value":2},{"name":3,"value":3},{"name":1}]}"#),
    ("set elements order in a list [3way]",
     r#"{"mergingList":[{"name":1,"other":"a"},{"name":3,"value":3},{"name":4,"value":4},{"name":2,"value":2}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":3},{"name":1}]}"#,
     r#"{"mergingList":[{"name":4,"value":4},{"name":2,"value":2},{"name":3,"value":3},{"name":1,"other":"a"}]}"#),
    ("retainKeys map clears a field [3way]",
     r#"{"retainKeysMap":{"name":"foo","other":"a","value":"bar"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","value"]}}"#,
     r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#),
    ("retainKeys list of maps adds a field [2way]",
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo"}]}"#,
     r#"{"$setElementOrder/retainKeysMergingList":[{"name":"bar"},{"name":"foo"}],"retainKeysMergingList":[{"$retainKeys":["name","value"],"name":"foo","value":"a"}]}"#,
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"a"}]}"#),
    ("retainKeys list of maps clears a field [2way]",
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"a"}]}"#,
     r#"{}"#,
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"a"}]}"#),
    ("retainKeys list of maps clears a field [3way]",
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","other":"x","value":"a"}]}"#,
     r#"{"$setElementOrder/retainKeysMergingList":[{"name":"bar"},{"name":"foo"}],"retainKeysMergingList":[{"$retainKeys":["name","value"],"name":"foo"}]}"#,
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"a"}]}"#),
    ("retainKeys list of maps deletes a field [2way]",
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"a"}]}"#,
     r#"{"$setElementOrder/retainKeysMergingList":[{"name":"bar"},{"name":"foo"}],"retainKeysMergingList":[{"$retainKeys":["name"],"name":"foo","value":null}]}"#,
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo"}]}"#),
    ("add an item in a list and preserve order [2way]",
     r#"{"mergingList":[{"name":1},{"name":2,"value":2}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":3},{"name":1},{"name":2}],"mergingList":[{"name":3,"value":3}]}"#,
     r#"{"mergingList":[{"name":3,"value":3},{"name":1},{"name":2,"value":2}]}"#),
    ("add an item in a list and preserve order [3way]",
     r#"{"mergingList":[{"name":1,"other":"a"},{"name":2,"other":"b","value":2}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":3},{"name":1},{"name":2}],"mergingList":[{"name":3,"value":3}]}"#,
     r#"{"mergingList":[{"name":3,"value":3},{"name":1,"other":"a"},{"name":2,"other":"b","value":2}]}"#),
    ("retainKeys map nested map with no change [2way]",
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"a"}}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","simpleMap","value"],"value":"bar"}}"#,
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"a"},"value":"bar"}}"#),
    ("retainKeys map replaces non-merging list [2way]",
     r#"{"retainKeysMap":{"name":"foo","nonMergingList":[{"name":"a"},{"name":"b"}],"value":"bar"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","nonMergingList","value"],"nonMergingList":[{"name":"a"},{"name":"c"},{"name":"b"}]}}"#,
     r#"{"retainKeysMap":{"name":"foo","nonMergingList":[{"name":"a"},{"name":"c"},{"name":"b"}],"value":"bar"}}"#),
    ("retainKeys map deletes nested merging list [2way]",
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b"}],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","value"],"mergingList":null,"value":"bar"}}"#,
     r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#),
    ("delete an item in a list and preserve order [2way]",
     r#"{"mergingList":[{"name":1},{"name":3,"value":3},{"name":2,"value":2}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":2},{"name":1}],"mergingList":[{"$patch":"delete","name":3}]}"#,
     r#"{"mergingList":[{"name":2,"value":2},{"name":1}]}"#),
    ("delete an item in a list and preserve order [3way]",
     r#"{"mergingList":[{"name":1,"other":"a"},{"name":2,"other":"b","value":2},{"name":3,"value":3}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":2},{"name":1}],"mergingList":[{"$patch":"delete","name":3}]}"#,
     r#"{"mergingList":[{"name":2,"other":"b","value":2},{"name":1,"other":"a"}]}"#),
    ("change an item in a list and preserve order [2way]",
     r#"{"mergingList":[{"name":1},{"name":3,"value":3},{"name":2,"value":2}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":2},{"name":3},{"name":1}],"mergingList":[{"name":3,"value":"x"}]}"#,
     r#"{"mergingList":[{"name":2,"value":2},{"name":3,"value":"x"},{"name":1}]}"#),
    ("change an item in a list and preserve order [3way]",
     r#"{"mergingList":[{"name":1,"other":"a"},{"name":2,"other":"b","value":2},{"name":3,"value":3}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":2},{"name":3},{"name":1}],"mergingList":[{"name":3,"value":"x"}]}"#,
     r#"{"mergingList":[{"name":2,"other":"b","value":2},{"name":3,"value":"x"},{"name":1,"other":"a"}]}"#),
    ("retainKeys map should clear defaulted field [3way]",
     r#"{"retainKeysMap":{"value":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["other"],"other":"bar"}}"#,
     r#"{"retainKeysMap":{"other":"bar"}}"#),
    ("retainKeys map adds a field in a nested map [2way]",
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"a"},"value":"bar"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","simpleMap","value"],"simpleMap":{"key2":"b"}}}"#,
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"a","key2":"b"},"value":"bar"}}"#),
    ("retainKeys map adds a field in a nested map [3way]",
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"a","key3":"c"},"value":"bar"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","simpleMap","value"],"simpleMap":{"key2":"b"}}}"#,
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"a","key2":"b","key3":"c"},"value":"bar"}}"#),
    ("preserve the order from the patch in a merging list",
     r#"{"mergingList":[{"name":1},{"name":2,"value":"b"},{"name":3}]}"#,
     r#"{"mergingList":[{"name":3,"value":"c"},{"name":1,"value":"a"},{"name":2,"other":"x"}]}"#,
     r#"{"mergingList":[{"name":3,"value":"c"},{"name":1,"value":"a"},{"name":2,"other":"x","value":"b"}]}"#),
    ("retainKeys map adds a field and clear a field [3way]",
     r#"{"retainKeysMap":{"name":"foo","other":"a"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","value"],"value":"bar"}}"#,
     r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#),
    ("retainKeys map deletes a field in a nested map [2way]",
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"a","key2":"b"},"value":"bar"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","simpleMap","value"],"simpleMap":{"key2":null}}}"#,
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"a"},"value":"bar"}}"#),
    ("retainKeys map deletes a field in a nested map [3way]",
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"a","key2":"b","key3":"c"},"value":"bar"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","simpleMap","value"],"simpleMap":{"key2":null}}}"#,
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"a","key3":"c"},"value":"bar"}}"#),
    ("retainKeys map changes a field in a nested map [2way]",
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"a","key2":"b"},"value":"bar"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","simpleMap","value"],"simpleMap":{"key1":"x"}}}"#,
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"x","key2":"b"},"value":"bar"}}"#),
    ("retainKeys map changes a field in a nested map [3way]",
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"a","key2":"b","key3":"c"},"value":"bar"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","simpleMap","value"],"simpleMap":{"key1":"x"}}}"#,
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"x","key2":"b","key3":"c"},"value":"bar"}}"#),
    ("retainKeys map deletes nested non-merging list [2way]",
     r#"{"retainKeysMap":{"name":"foo","nonMergingList":[{"name":"a"},{"name":"b"}]}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","value"],"nonMergingList":null,"value":"bar"}}"#,
     r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#),
    ("retainKeys map deletes nested merging int list [2way]",
     r#"{"retainKeysMap":{"mergingIntList":[1,2,3],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name"],"mergingIntList":null}}"#,
     r#"{"retainKeysMap":{"name":"foo"}}"#),
    ("preserve the order from the patch in a merging list 2",
     r#"{"mergingList":[{"name":1},{"name":2,"value":"b"},{"name":3}]}"#,
     r#"{"mergingList":[{"name":3,"value":"c"},{"name":1,"value":"a"}]}"#,
     r#"{"mergingList":[{"name":2,"value":"b"},{"name":3,"value":"c"},{"name":1,"value":"a"}]}"#),
    ("add multiple items in a list and preserve order [2way]",
     r#"{"mergingList":[{"name":1},{"name":2,"value":2}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":1},{"name":4},{"name":2},{"name":3}],"mergingList":[{"name":4,"value":4},{"name":3,"value":3}]}"#,
     r#"{"mergingList":[{"name":1},{"name":4,"value":4},{"name":2,"value":2},{"name":3,"value":3}]}"#),
    ("add multiple items in a list and preserve order [3way]",
     r#"{"mergingList":[{"name":1,"other":"a"},{"name":2,"other":"b","value":2}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":1},{"name":4},{"name":2},{"name":3}],"mergingList":[{"name":4,"value":4},{"name":3,"value":3}]}"#,
     r#"{"mergingList":[{"name":1,"other":"a"},{"name":4,"value":4},{"name":2,"other":"b","value":2},{"name":3,"value":3}]}"#),
    ("delete an item in a int list and preserve order [2way]",
     r#"{"mergingIntList":[1,3,2]}"#,
     r#"{"$deleteFromPrimitiveList/mergingIntList":[3],"$setElementOrder/mergingIntList":[2,1]}"#,
     r#"{"mergingIntList":[2,1]}"#),
    ("retainKeys map deletes a field and clears a field [3way]",
     r#"{"retainKeysMap":{"name":"foo","other":"a","value":"bar"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name"],"value":null}}"#,
     r#"{"retainKeysMap":{"name":"foo"}}"#),
    ("retainKeys map nested merging list with no change [2way]",
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b"}],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["mergingList","name","value"],"value":"bar"}}"#,
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b"}],"name":"foo","value":"bar"}}"#),
    ("retainKeys map nested merging list with no change [3way]",
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b"},{"name":"c"}],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["mergingList","name","value"],"$setElementOrder/mergingList":[{"name":"a"},{"name":"b"}],"value":"bar"}}"#,
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b"},{"name":"c"}],"name":"foo","value":"bar"}}"#),
    ("retainKeys map adds an item in nested merging list [2way]",
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b"}],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["mergingList","name"],"$setElementOrder/mergingList":[{"name":"a"},{"name":"b"},{"name":"c"}],"mergingList":[{"name":"c"}]}}"#,
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b"},{"name":"c"}],"name":"foo"}}"#),
    ("retainKeys map adds an item in nested merging list [3way]",
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b"},{"name":"x"}],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["mergingList","name"],"$setElementOrder/mergingList":[{"name":"a"},{"name":"b"},{"name":"c"}],"mergingList":[{"name":"c"}]}}"#,
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"x"}],"name":"foo"}}"#),
    ("delete and reorder in one list, reorder in another [2way]",
     r#"{"mergeItemPtr":[{"name":"c","value":"c"},{"name":"d","value":"d"}],"mergingList":[{"name":"a","value":"a"},{"name":"b","value":"b"}]}"#,
     r#"{"$setElementOrder/mergeItemPtr":[{"name":"d"},{"name":"c"}],"$setElementOrder/mergingList":[{"name":"b"}],"mergingList":[{"$patch":"delete","name":"a"}]}"#,
     r#"{"mergeItemPtr":[{"name":"d","value":"d"},{"name":"c","value":"c"}],"mergingList":[{"name":"b","value":"b"}]}"#),
    ("add and delete an item in a list and preserve order [2way]",
     r#"{"mergingList":[{"name":1},{"name":3,"value":3},{"name":2,"value":2}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":1}],"mergingList":[{"name":4,"value":4},{"$patch":"delete","name":3}]}"#,
     r#"{"mergingList":[{"name":4,"value":4},{"name":2,"value":2},{"name":1}]}"#),
    ("add and delete an item in a list and preserve order [3way]",
     r#"{"mergingList":[{"name":1,"other":"a"},{"name":2,"other":"b","value":2},{"name":3,"value":3}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":1}],"mergingList":[{"name":4,"value":4},{"$patch":"delete","name":3}]}"#,
     r#"{"mergingList":[{"name":4,"value":4},{"name":2,"other":"b","value":2},{"name":1,"other":"a"}]}"#),
    ("set elements order in a list with server-only items [3way]",
     r#"{"mergingList":[{"name":1,"other":"a"},{"name":3,"value":3},{"name":4,"value":4},{"name":2,"value":2},{"name":9}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":4},{"name":2},{"name":3},{"name":1}]}"#,
     r#"{"mergingList":[{"name":4,"value":4},{"name":2,"value":2},{"name":3,"value":3},{"name":1,"other":"a"},{"name":9}]}"#),
    ("add multiple items in a int list and preserve order [2way]",
     r#"{"mergingIntList":[1,2]}"#,
     r#"{"$setElementOrder/mergingIntList":[1,4,2,3],"mergingIntList":[4,3]}"#,
     r#"{"mergingIntList":[1,4,2,3]}"#),
    ("retainKeys list of maps clears a field with conflict [2way]",
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"old"}]}"#,
     r#"{"$setElementOrder/retainKeysMergingList":[{"name":"bar"},{"name":"foo"}],"retainKeysMergingList":[{"$retainKeys":["name","value"],"name":"foo","value":"modified"}]}"#,
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"modified"}]}"#),
    ("retainKeys list of maps clears a field with conflict [3way]",
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","other":"x","value":"new"}]}"#,
     r#"{"$setElementOrder/retainKeysMergingList":[{"name":"bar"},{"name":"foo"}],"retainKeysMergingList":[{"$retainKeys":["name","value"],"name":"foo","value":"modified"}]}"#,
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"modified"}]}"#),
    ("set elements order in a list with server-only items 2 [2way]",
     r#"{"mergingList":[{"name":1},{"name":2,"value":2},{"name":3,"value":3},{"name":4,"value":4}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":2},{"name":1},{"name":4},{"name":3}]}"#,
     r#"{"mergingList":[{"name":2,"value":2},{"name":1},{"name":4,"value":4},{"name":3,"value":3}]}"#),
    ("set elements order in a list with server-only items 2 [3way]",
     r#"{"mergingList":[{"name":1,"other":"a"},{"name":2,"value":2},{"name":9},{"name":3,"value":3},{"name":4,"value":4}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":2},{"name":1},{"name":4},{"name":3}]}"#,
     r#"{"mergingList":[{"name":2,"value":2},{"name":1,"other":"a"},{"name":9},{"name":4,"value":4},{"name":3,"value":3}]}"#),
    ("set elements order in a list with server-only items 3 [3way]",
     r#"{"mergingList":[{"name":1,"other":"a"},{"name":2,"value":2},{"name":7},{"name":9},{"name":8},{"name":3,"value":3},{"name":4,"value":4}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":2},{"name":1},{"name":4},{"name":3}]}"#,
     r#"{"mergingList":[{"name":2,"value":2},{"name":1,"other":"a"},{"name":7},{"name":9},{"name":8},{"name":4,"value":4},{"name":3,"value":3}]}"#),
    ("retainKeys map nested non-merging list with no change [2way]",
     r#"{"retainKeysMap":{"name":"foo","nonMergingList":[{"name":"a"},{"name":"b"}]}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","nonMergingList","value"],"value":"bar"}}"#,
     r#"{"retainKeysMap":{"name":"foo","nonMergingList":[{"name":"a"},{"name":"b"}],"value":"bar"}}"#),
    ("retainKeys map nested merging int list with no change [2way]",
     r#"{"retainKeysMap":{"mergingIntList":[1,2],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["mergingIntList","name","value"],"value":"bar"}}"#,
     r#"{"retainKeysMap":{"mergingIntList":[1,2],"name":"foo","value":"bar"}}"#),
    ("retainKeys map nested merging int list with no change [3way]",
     r#"{"retainKeysMap":{"mergingIntList":[1,2,3],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["mergingIntList","name","value"],"$setElementOrder/mergingIntList":[1,2],"value":"bar"}}"#,
     r#"{"retainKeysMap":{"mergingIntList":[1,2,3],"name":"foo","value":"bar"}}"#),
    ("retainKeys map changes an item in nested merging list [2way]",
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b","value":"foo"}],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["mergingList","name"],"$setElementOrder/mergingList":[{"name":"a"},{"name":"b"}],"mergingList":[{"name":"b","value":"bar"}]}}"#,
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b","value":"bar"}],"name":"foo"}}"#),
    ("retainKeys map changes an item in nested merging list [3way]",
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b","value":"foo"},{"name":"x"}],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["mergingList","name"],"$setElementOrder/mergingList":[{"name":"a"},{"name":"b"}],"mergingList":[{"name":"b","value":"bar"}]}}"#,
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b","value":"bar"},{"name":"x"}],"name":"foo"}}"#),
    ("retainKeys map deletes an item in nested merging list [2way]",
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b"}],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["mergingList","name"],"$setElementOrder/mergingList":[{"name":"a"}],"mergingList":[{"$patch":"delete","name":"b"}]}}"#,
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"}],"name":"foo"}}"#),
    ("retainKeys map deletes an item in nested merging list [3way]",
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"b"},{"name":"x"}],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["mergingList","name"],"$setElementOrder/mergingList":[{"name":"a"}],"mergingList":[{"$patch":"delete","name":"b"}]}}"#,
     r#"{"retainKeysMap":{"mergingList":[{"name":"a"},{"name":"x"}],"name":"foo"}}"#),
    ("add an item in a list of primitives and preserve order [2way]",
     r#"{"mergingIntList":[1,2]}"#,
     r#"{"$setElementOrder/mergingIntList":[3,1,2],"mergingIntList":[3]}"#,
     r#"{"mergingIntList":[3,1,2]}"#),
    ("add an item in a list of primitives and preserve order [3way]",
     r#"{"mergingIntList":[1,4,2]}"#,
     r#"{"$setElementOrder/mergingIntList":[3,1,2],"mergingIntList":[3]}"#,
     r#"{"mergingIntList":[3,1,4,2]}"#),
    ("retainKeys map adds an item in nested merging int list [2way]",
     r#"{"retainKeysMap":{"mergingIntList":[1,2],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["mergingIntList","name"],"$setElementOrder/mergingIntList":[1,2,4],"mergingIntList":[4]}}"#,
     r#"{"retainKeysMap":{"mergingIntList":[1,2,4],"name":"foo"}}"#),
    ("retainKeys map adds an item in nested merging int list [3way]",
     r#"{"retainKeysMap":{"mergingIntList":[1,2,3],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["mergingIntList","name"],"$setElementOrder/mergingIntList":[1,2,4],"mergingIntList":[4]}}"#,
     r#"{"retainKeysMap":{"mergingIntList":[1,2,4,3],"name":"foo"}}"#),
    ("retainKeys list of maps adds a field and clear a field [3way]",
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","other":"x"}]}"#,
     r#"{"$setElementOrder/retainKeysMergingList":[{"name":"bar"},{"name":"foo"}],"retainKeysMergingList":[{"$retainKeys":["name","value"],"name":"foo","value":"a"}]}"#,
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"a"}]}"#),
    ("add and delete an item in a int list and preserve order [2way]",
     r#"{"mergingIntList":[1,3,2]}"#,
     r#"{"$deleteFromPrimitiveList/mergingIntList":[3],"$setElementOrder/mergingIntList":[4,2,1],"mergingIntList":[4]}"#,
     r#"{"mergingIntList":[4,2,1]}"#),
    ("add and delete an item in a int list and preserve order [3way]",
     r#"{"mergingIntList":[1,2,3]}"#,
     r#"{"$deleteFromPrimitiveList/mergingIntList":[3],"$setElementOrder/mergingIntList":[4,2,1],"mergingIntList":[4]}"#,
     r#"{"mergingIntList":[4,2,1]}"#),
    ("delete an item in a list of primitives and preserve order [2way]",
     r#"{"mergingIntList":[1,2,3]}"#,
     r#"{"$deleteFromPrimitiveList/mergingIntList":[3],"$setElementOrder/mergingIntList":[2,1]}"#,
     r#"{"mergingIntList":[2,1]}"#),
    ("set elements order in a int list with server-only items 3 [3way]",
     r#"{"mergingIntList":[1,2,7,9,8,3,4]}"#,
     r#"{"$setElementOrder/mergingIntList":[2,1,4,3]}"#,
     r#"{"mergingIntList":[2,1,7,9,8,4,3]}"#),
    ("retainKeys map deletes an item in nested merging int list [2way]",
     r#"{"retainKeysMap":{"mergingIntList":[1,2,3],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$deleteFromPrimitiveList/mergingIntList":[2],"$retainKeys":["mergingIntList","name"],"$setElementOrder/mergingIntList":[1,3]}}"#,
     r#"{"retainKeysMap":{"mergingIntList":[1,3],"name":"foo"}}"#),
    ("retainKeys map deletes an item in nested merging int list [3way]",
     r#"{"retainKeysMap":{"mergingIntList":[1,2,3,4],"name":"foo"}}"#,
     r#"{"retainKeysMap":{"$deleteFromPrimitiveList/mergingIntList":[2],"$retainKeys":["mergingIntList","name"],"$setElementOrder/mergingIntList":[1,3]}}"#,
     r#"{"retainKeysMap":{"mergingIntList":[1,3,4],"name":"foo"}}"#),
    ("retainKeys list of maps changes a field and clear a field [2way]",
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"old"}]}"#,
     r#"{"$setElementOrder/retainKeysMergingList":[{"name":"bar"},{"name":"foo"}],"retainKeysMergingList":[{"$retainKeys":["name","value"],"name":"foo","value":"new"}]}"#,
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"new"}]}"#),
    ("retainKeys list of maps changes a field and clear a field [3way]",
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","other":"x","value":"old"}]}"#,
     r#"{"$setElementOrder/retainKeysMergingList":[{"name":"bar"},{"name":"foo"}],"retainKeysMergingList":[{"$retainKeys":["name","value"],"name":"foo","value":"new"}]}"#,
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"new"}]}"#),
    ("retainKeys list of maps deletes a field and clear a field [3way]",
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","other":"x","value":"a"}]}"#,
     r#"{"$setElementOrder/retainKeysMergingList":[{"name":"bar"},{"name":"foo"}],"retainKeysMergingList":[{"$retainKeys":["name"],"name":"foo","value":null}]}"#,
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo"}]}"#),
    ("retainKeys map delete nested non-merging list with conflict [3way]",
     r#"{"retainKeysMap":{"name":"foo","nonMergingList":[{"name":"a"},{"name":"b"},{"name":"c"}]}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","value"],"nonMergingList":null,"value":"bar"}}"#,
     r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#),
    ("retainKeys map changes a field in a nested map with conflict [2way]",
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"old","key2":"b"},"value":"bar"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","simpleMap","value"],"simpleMap":{"key1":"modified"}}}"#,
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"modified","key2":"b"},"value":"bar"}}"#),
    ("retainKeys map changes a field in a nested map with conflict [3way]",
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"new","key2":"b","key3":"c"},"value":"bar"}}"#,
     r#"{"retainKeysMap":{"$retainKeys":["name","simpleMap","value"],"simpleMap":{"key1":"modified"}}}"#,
     r#"{"retainKeysMap":{"name":"foo","simpleMap":{"key1":"modified","key2":"b","key3":"c"},"value":"bar"}}"#),
    ("retainKeys map can add a field when no retainKeys directive present",
     r#"{"retainKeysMap":{"name":"foo"}}"#,
     r#"{"retainKeysMap":{"value":"bar"}}"#,
     r#"{"retainKeysMap":{"name":"foo","value":"bar"}}"#),
    ("retainKeys list can add a field when no retainKeys directive present",
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo"}]}"#,
     r#"{"retainKeysMergingList":[{"name":"foo","value":"a"}]}"#,
     r#"{"retainKeysMergingList":[{"name":"bar"},{"name":"foo","value":"a"}]}"#),
    ("should check if order in $setElementOrder and patch list match [2way]",
     r#"{"mergingList":[{"name":1},{"name":3},{"name":2}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":1},{"name":2},{"name":3}],"mergingList":[{"name":3,"value":3},{"name":1,"value":1}]}"#,
     r#"ERR:doesn't match"#),
    ("behavior of set element order for a merging list with duplicate [2way]",
     r#"{"mergingList":[{"name":1},{"name":2,"value":"dup1"},{"name":3},{"name":2,"value":"dup2"},{"name":4}]}"#,
     r#"{"$setElementOrder/mergingList":[{"name":2},{"name":1},{"name":4},{"name":3},{"name":2}]}"#,
     r#"{"mergingList":[{"name":2,"value":"dup1"},{"name":2,"value":"dup2"},{"name":1},{"name":4},{"name":3}]}"#),
    ("retainKeys map can change a field when no retainKeys directive present",
     r#"{"retainKeysMap":{"name":"foo","value":"a"}}"#,
     r#"{"retainKeysMap":{"value":"b"}}"#,
     r#"{"retainKeysMap":{"name":"foo","value":"b"}}"#),
    ("retainKeys map can delete a field when no retainKeys directive present",
     r#"{"retainKeysMap":{"name":"foo","value":"a"}}"#,
     r#"{"retainKeysMap":{"value":null}}"#,
     r#"{"retainKeysMap":{"name":"foo"}}"#),
];

#[test]
fn upstream_patch_application_cases() {
    let schema = Schema::parse(MERGE_ITEM).expect("test schema");
    let root = schema.type_named("MergeItem");
    let mut failures = Vec::new();
    for (desc, original, patch, expected) in UPSTREAM {
        let original: Value = serde_json::from_str(original).expect(desc);
        let patch: Value = serde_json::from_str(patch).expect(desc);
        let got = strategic_merge_patch_with(root, &original, &patch);
        match (expected.strip_prefix("ERR:"), got) {
            (Some(msg), Err(e)) if e.to_string().contains(msg) => {}
            (None, Ok(v)) if v == serde_json::from_str::<Value>(expected).expect(desc) => {}
            (_, got) => failures.push(format!("{desc}: want {expected}, got {got:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"}, "finalizers": ["a", "b"]},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "nginx", "image": "nginx:1.24",
                         "ports": [{"containerPort": 80}, {"containerPort": 443}],
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                        {"name": "sidecar", "image": "busybox"}
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "k1", "operator": "Exists"}]
                }
            }
        }
    })
}

fn smp(original: &Value, patch: Value) -> Value {
    strategic_merge_patch("Deployment", original, &patch).expect("patch applies")
}

fn pod_spec(v: &Value) -> &Value {
    &v["spec"]["template"]["spec"]
}

#[test]
fn kubectl_set_image_touches_one_container() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}}});
    let out = smp(&deployment(), patch);
    let containers = &pod_spec(&out)["containers"];
    assert_eq!(containers[0]["image"], "nginx:1.25");
    assert_eq!(containers[0]["env"], pod_spec(&deployment())["containers"][0]["env"]);
    assert_eq!(containers[1]["name"], "sidecar");
}

#[test]
fn kubectl_rollout_restart_label_and_scale() {
    let stamp = "2024-05-01T10:00:00Z";
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}});
    let out = smp(&deployment(), patch);
    assert_eq!(out["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"], stamp);
    assert_eq!(out["spec"]["template"]["metadata"]["labels"]["app"], "web");
    let out = smp(&out, json!({"metadata": {"labels": {"tier": null, "new": "x"}}, "spec": {"replicas": 5}}));
    assert_eq!(out["metadata"]["labels"], json!({"app": "web", "new": "x"}));
    assert_eq!(out["spec"]["replicas"], 5);
}

#[test]
fn kubectl_apply_three_way_patch() {
    // What client-side `kubectl apply` sends after a user removed env B, added port 8080,
    // switched to Recreate and replaced the emptyDir volume by a configMap.
    let patch = json!({"spec": {
        "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null},
        "template": {"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
            "containers": [{
                "name": "nginx",
                "$setElementOrder/env": [{"name": "A"}],
                "$setElementOrder/ports": [{"containerPort": 80}, {"containerPort": 8080}, {"containerPort": 443}],
                "env": [{"$patch": "delete", "name": "B"}],
                "ports": [{"containerPort": 8080}]
            }],
            "volumes": [{"$retainKeys": ["configMap", "name"], "name": "data", "configMap": {"name": "cm"}}]
        }}
    }});
    let out = smp(&deployment(), patch);
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    let nginx = &pod_spec(&out)["containers"][0];
    assert_eq!(nginx["env"], json!([{"name": "A", "value": "1"}]));
    assert_eq!(nginx["ports"], json!([{"containerPort": 80}, {"containerPort": 8080}, {"containerPort": 443}]));
    assert_eq!(pod_spec(&out)["volumes"], json!([{"name": "data", "configMap": {"name": "cm"}}]));
}

#[test]
fn list_strategies_of_builtin_kinds() {
    // tolerations have no merge key: replaced.
    let out = smp(&deployment(), json!({"spec": {"template": {"spec": {"tolerations": [{"key": "k2"}]}}}}));
    assert_eq!(pod_spec(&out)["tolerations"], json!([{"key": "k2"}]));
    // finalizers merge as a set; the parallel deletion list removes.
    let out = smp(&deployment(), json!({"metadata": {"finalizers": ["c", "a"], "$deleteFromPrimitiveList/finalizers": ["b"]}}));
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a"]));
    // `$patch: replace` inside a list and `$patch: delete` on an element.
    let out = smp(&deployment(), json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete", "name": "sidecar"}]}}}}));
    assert_eq!(pod_spec(&out)["containers"].as_array().map(Vec::len), Some(1));
    let out = smp(&deployment(), json!({"spec": {"template": {"spec": {"containers": [{"name": "x", "image": "y"}, {"$patch": "replace"}]}}}}));
    assert_eq!(pod_spec(&out)["containers"], json!([{"name": "x", "image": "y"}]));
    // Service ports merge by port; node addresses by type.
    let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
    let out = strategic_merge_patch("Service", &svc, &json!({"spec": {"ports": [{"port": 80, "name": "http"}]}})).unwrap();
    assert_eq!(out["spec"]["ports"], json!([{"port": 80, "targetPort": 8080, "name": "http"}, {"port": 443}]));
    let node = json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}]}});
    let patch = json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}});
    let out = strategic_merge_patch("Node", &node, &patch).unwrap();
    assert_eq!(out["status"]["addresses"][1]["address"], "n1");
    // Unknown kinds: no metadata, lists are replaced.
    let cr = json!({"spec": {"items": [{"name": "a"}]}});
    let out = strategic_merge_patch("Widget", &cr, &json!({"spec": {"items": [{"name": "b"}]}})).unwrap();
    assert_eq!(out["spec"]["items"], json!([{"name": "b"}]));
}

#[test]
fn directives_on_maps() {
    let out = smp(&deployment(), json!({"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}}));
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    let out = smp(&deployment(), json!({"metadata": {"labels": {"$patch": "delete"}}}));
    assert_eq!(out["metadata"]["labels"], json!({}));
    let out = smp(&deployment(), json!({"spec": {"selector": {"$patch": "delete"}}}));
    assert!(out["spec"].get("selector").is_none(), "directive maps never land in the object");
}

#[test]
fn malformed_patches_are_errors() {
    let d = deployment();
    let err = |patch: Value| strategic_merge_patch("Deployment", &d, &patch).unwrap_err();
    assert_eq!(strategic_merge_patch("Pod", &json!([]), &json!({})).unwrap_err(), PatchError::NotAnObject("original"));
    assert_eq!(strategic_merge_patch("Pod", &json!({}), &json!("x")).unwrap_err(), PatchError::NotAnObject("patch"));
    assert!(matches!(err(json!({"spec": {"$patch": "merge"}})), PatchError::BadDirective { .. }));
    assert!(matches!(err(json!({"spec": {"$patch": 7}})), PatchError::BadDirective { .. }));
    let containers = |c: Value| json!({"spec": {"template": {"spec": {"containers": c}}}});
    assert_eq!(err(containers(json!([{"$patch": "merge"}]))), PatchError::MergeListDirective);
    assert!(matches!(err(containers(json!([{"image": "x"}]))), PatchError::MissingMergeKey { .. }));
    assert!(matches!(err(containers(json!([{"$patch": "delete"}]))), PatchError::MissingMergeKey { .. }));
    assert!(matches!(err(containers(json!(["nginx"]))), PatchError::MixedElementTypes(_)));
    assert_eq!(err(containers(json!([[1]]))), PatchError::ListOfLists);
    assert_eq!(err(json!({"spec": {"strategy": {"$retainKeys": "type"}}})), PatchError::BadRetainKeys);
    assert_eq!(err(json!({"spec": {"strategy": {"$retainKeys": [], "type": "x"}}})), PatchError::BadRetainKeys);
    assert_eq!(err(json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}})), PatchError::BadPrimitiveList);
    assert_eq!(err(json!({"metadata": {"$setElementOrder": []}})), PatchError::BadSetElementOrder);
    assert!(matches!(err(json!({"metadata": {"$setElementOrder/finalizers": 1}})), PatchError::WrongType { .. }));
    let mut deep = json!(1);
    for _ in 0..(super::MAX_DEPTH + 10) {
        deep = json!({ "a": deep });
    }
    assert_eq!(err(deep), PatchError::TooDeep);
}
