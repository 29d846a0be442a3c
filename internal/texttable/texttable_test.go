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

func TestWriteLeft(t *testing.T) {
	var b strings.Builder
	rows := [][]string{{"AT", "KIND", "MESSAGE", "N"}, {"12:00", "runaway_loop", "same prompt", "20"}, {"12:01", "spend", "spike", "3"}}
	if err := WriteLeft(&b, rows, 2, 3); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"AT     KIND          MESSAGE       N\n" +
		"12:00  runaway_loop  same prompt  20\n" +
		"12:01  spend         spike         3\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteLeft(&b, [][]string{{"KIND", "MESSAGE"}, {"spend", "a long message"}}, 2, 2); err != nil {
		t.Fatal(err)
	}
	if want := "KIND   MESSAGE\nspend  a long message\n"; b.String() != want {
		t.Errorf("all left, last not padded: got %q, want %q", b.String(), want)
	}
}
