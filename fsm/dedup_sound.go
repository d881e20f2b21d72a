//go:build !brokendedup

package fsm

// dedupBroken is false in every binary built without the brokendedup tag:
// the product's. The chaos suite builds one trustd with the tag to show
// that its exactly-once check catches a double apply
// (chaostest.TestCheckerCatchesDoubleApply).
const dedupBroken = false
