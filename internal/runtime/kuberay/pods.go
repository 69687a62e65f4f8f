package kuberay

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/rayfleet/rayfleet"
)

// Node types as instances[] shows them.
const (
	typeHead   = "Head"
	typeWorker = "Worker"
)

// isHead reports whether p is a head pod.
func isHead(p *corev1.Pod) bool { return p.Labels[kuberayNodeType] == nodeTypeHead }

// isRayNode reports whether p is a head or worker pod (KubeRay also runs a
// Redis cleanup job's pod with the head's labels when a fault-tolerant
// cluster is deleted).
func isRayNode(p *corev1.Pod) bool {
	t := p.Labels[kuberayNodeType]
	return t == nodeTypeHead || t == nodeTypeWorker
}

// podReady reports whether p is Ready and not on its way out.
func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	c := podCondition(p, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// mainContainer returns the status of p's Ray container: the first
// container of the spec, as KubeRay requires (the autoscaler is a sidecar).
func mainContainer(p *corev1.Pod) *corev1.ContainerStatus {
	name := headContainer
	if len(p.Spec.Containers) > 0 {
		name = p.Spec.Containers[0].Name
	}
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// instanceOf shows a pod as instances[] does.
func instanceOf(p *corev1.Pod) rayfleet.Instance {
	in := rayfleet.Instance{
		InstanceID: p.Name,
		Type:       typeWorker,
		Phase:      string(p.Status.Phase),
		Reason:     p.Status.Reason,
		Message:    p.Status.Message,
		CreateTime: p.CreationTimestamp.Time,
	}
	if isHead(p) {
		in.Type = typeHead
	} else {
		in.Group = p.Labels[kuberayGroup]
	}
	if in.Phase == "" {
		in.Phase = string(corev1.PodPending)
	}
	if p.Status.StartTime != nil {
		in.StartTime = p.Status.StartTime.Time
	}
	if in.Reason == "" && in.Message == "" {
		if c := podCondition(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
			in.Reason, in.Message = c.Reason, c.Message
		}
	}
	if in.Reason == "" && p.DeletionTimestamp != nil {
		in.Reason = "Terminating"
	}
	if cs := mainContainer(p); cs != nil {
		switch s := cs.State; {
		case s.Running != nil:
			in.ContainerState = "Running"
		case s.Terminated != nil:
			in.ContainerState = "Terminated"
			in.ContainerStateReason, in.ContainerStateMessage = s.Terminated.Reason, s.Terminated.Message
			in.ContainerExitCode = s.Terminated.ExitCode
		case s.Waiting != nil:
			in.ContainerState = "Waiting"
			in.ContainerStateReason, in.ContainerStateMessage = s.Waiting.Reason, s.Waiting.Message
			// A container waiting to restart ended before: its exit code
			// is why it waits.
			if last := cs.LastTerminationState.Terminated; last != nil {
				in.ContainerExitCode = last.ExitCode
			}
		}
	}
	return in
}

// Waiting reasons that will not pass by themselves.
var (
	imageReasons  = map[string]bool{"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true}
	configReasons = map[string]bool{"CreateContainerConfigError": true}
)

// podFailure says why p's instance cannot come up, "" when nothing in p
// says so. An image that cannot be pulled or a container that cannot be
// configured fails any pod; a crash loop fails the head only (Ray cannot
// run without it; a crashing worker is one node short, not a dead cluster).
// An unschedulable pod is not a failure: capacity may come, and the start
// timeout ends the wait with the scheduler's message.
func podFailure(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return ""
	}
	all := append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range all {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		switch {
		case imageReasons[w.Reason]:
			return fmt.Sprintf("%s cannot pull image %s: %s", podRole(p), cs.Image, reasonMessage(w.Reason, w.Message))
		case configReasons[w.Reason]:
			return fmt.Sprintf("%s: container %s cannot start: %s", podRole(p), cs.Name, reasonMessage(w.Reason, w.Message))
		}
	}
	if isHead(p) {
		if cs := mainContainer(p); cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" {
			msg := fmt.Sprintf("head pod %s keeps crashing (restarted %d times)", p.Name, cs.RestartCount)
			if last := cs.LastTerminationState.Terminated; last != nil {
				msg += fmt.Sprintf(": %s exited with code %d", cs.Name, last.ExitCode)
				if last.Reason != "" {
					msg += " (" + last.Reason + ")"
				}
				if m := strings.TrimSpace(last.Message); m != "" {
					msg += ": " + lastLine(m)
				}
			}
			return msg
		}
	}
	return ""
}

// podProgress says, for people, where a pod that is not ready stands.
func podProgress(p *corev1.Pod) string {
	role := podRole(p)
	switch {
	case p.DeletionTimestamp != nil:
		return role + " is terminating"
	case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
		msg := fmt.Sprintf("%s %s", role, p.Status.Phase)
		if r := reasonMessage(p.Status.Reason, p.Status.Message); r != "" {
			msg += ": " + r
		}
		return msg + "; KubeRay replaces it"
	}
	phase := string(p.Status.Phase)
	if phase == "" {
		phase = string(corev1.PodPending)
	}
	if c := podCondition(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
		if c.Message != "" {
			return fmt.Sprintf("%s %s: %s", role, phase, strings.TrimSpace(c.Message))
		}
		return fmt.Sprintf("%s %s: %s", role, phase, c.Reason)
	}
	if cs := mainContainer(p); cs != nil && cs.State.Waiting != nil {
		msg := fmt.Sprintf("%s %s: container %s %s", role, phase, cs.Name, cs.State.Waiting.Reason)
		if m := strings.TrimSpace(cs.State.Waiting.Message); m != "" {
			msg += ": " + lastLine(m)
		}
		return msg
	}
	if p.Status.Phase == corev1.PodRunning {
		return role + " Running, not ready yet"
	}
	return role + " " + phase
}

// podRole names a pod for messages: "head pod ray-x-head-abcde".
func podRole(p *corev1.Pod) string {
	if isHead(p) {
		return "head pod " + p.Name
	}
	return "worker pod " + p.Name
}

func reasonMessage(reason, message string) string {
	message = strings.TrimSpace(message)
	switch {
	case reason == "":
		return message
	case message == "":
		return reason
	}
	return reason + ": " + message
}

// lastLine keeps the last non-empty line of a multi-line message (a
// termination log's last line is what went wrong).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
