package govern

import "github.com/penny-gateway/penny/internal/llm"

// settleStream calls settle exactly once: with the metadata event when one
// carrying usage passes, or with nil when the stream ends, fails or is
// closed first. started says whether any event was received. Like every
// Stream it is used by one goroutine.
type settleStream struct {
	llm.Stream
	settle  func(ev *llm.Event, started bool)
	started bool
	settled bool
}

func (s *settleStream) Recv() (llm.Event, error) {
	ev, err := s.Stream.Recv()
	if s.settled {
		return ev, err
	}
	switch {
	case err != nil:
		s.settled = true
		s.settle(nil, s.started)
	case ev.Type == llm.EventMetadata && ev.Usage != nil:
		s.settled = true
		s.settle(&ev, true)
	default:
		s.started = true
	}
	return ev, err
}

func (s *settleStream) Close() error {
	if !s.settled {
		s.settled = true
		s.settle(nil, s.started)
	}
	return s.Stream.Close()
}
