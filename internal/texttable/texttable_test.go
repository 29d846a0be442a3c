package texttable

import (
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	var b strings.Builder
	if err := Write(&b, [][]string{{"MODEL", "COST"}, {"nova-micro", "0.1"}, {"pro", "—"}, {"alone"}}, 2); err != nil {
		t.Fatal(err)
	}
	want := "MODEL       COST\nnova-micro   0.1\npro            —\nalone\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}
