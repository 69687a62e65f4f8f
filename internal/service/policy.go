package service

import (
	"context"
	"fmt"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/authz"
	"github.com/rayfleet/rayfleet/internal/store"
)

// PolicyInfo is a policy as RAM's admin API shows it: a custom policy of the
// account or a system policy.
type PolicyInfo struct {
	rayfleet.Policy
	Type string // rayfleet.PolicyCustom or rayfleet.PolicySystem
}

func systemInfo(sp authz.Policy, attachments int) PolicyInfo {
	return PolicyInfo{
		Policy: rayfleet.Policy{Name: sp.Name, Description: sp.Description, DefaultVersion: sp.DefaultVersion, AttachmentCount: attachments},
		Type:   rayfleet.PolicySystem,
	}
}

func checkPolicyType(t string) error {
	if t != rayfleet.PolicyCustom && t != rayfleet.PolicySystem {
		return rayfleet.Errorf(rayfleet.EINVALID, "PolicyType must be Custom or System, got %q", t)
	}
	return nil
}

func parseDocument(doc string) error {
	if doc == "" {
		return rayfleet.Errorf(rayfleet.EMISSING, "PolicyDocument is required")
	}
	if _, err := authz.Parse([]byte(doc)); err != nil {
		return rayfleet.Errorf(ERAMMalformedPolicy, "The policy document is malformed: %v", err)
	}
	return nil
}

// CreatePolicy stores a custom policy whose document is its version v1.
func (s *Service) CreatePolicy(ctx context.Context, p rayfleet.Principal, name, document, description string) (PolicyInfo, error) {
	if err := s.authorizeRAM(ctx, p, "CreatePolicy", ramResource(p, "policy", name)); err != nil {
		return PolicyInfo{}, err
	}
	if err := authz.ValidName(name); err != nil {
		return PolicyInfo{}, rayfleet.Errorf(rayfleet.EINVALID, "PolicyName: %v", err)
	}
	if err := checkLength("Description", description, 1024); err != nil {
		return PolicyInfo{}, err
	}
	if err := parseDocument(document); err != nil {
		return PolicyInfo{}, err
	}
	if _, ok := authz.SystemPolicy(name); ok {
		return PolicyInfo{}, rayfleet.Errorf(ERAMPolicyExists, "The policy %s already exists as a system policy.", name)
	}
	now := s.now()
	pol := rayfleet.Policy{AccountID: p.AccountID, Name: name, Description: description, DefaultVersion: "v1", CreateTime: now, UpdateTime: now}
	if err := s.Store.CreatePolicy(ctx, pol, document); err != nil {
		if rayfleet.ErrorCode(err) == rayfleet.EDENIED {
			return PolicyInfo{}, rayfleet.Errorf(ERAMPolicyExists, "The policy %s already exists.", name)
		}
		return PolicyInfo{}, fmt.Errorf("create policy: %w", err)
	}
	return PolicyInfo{Policy: pol, Type: rayfleet.PolicyCustom}, nil
}

// policy loads a policy of either type with its default version.
func (s *Service) policy(ctx context.Context, p rayfleet.Principal, name, typ string) (PolicyInfo, rayfleet.PolicyVersion, error) {
	if typ == rayfleet.PolicySystem {
		sp, ok := authz.SystemPolicy(name)
		if !ok {
			return PolicyInfo{}, rayfleet.PolicyVersion{}, rayfleet.Errorf(ERAMNoPolicy, "The system policy %s does not exist.", name)
		}
		as, err := s.Store.ListAttachments(ctx, store.AttachmentFilter{AccountID: p.AccountID, PolicyType: rayfleet.PolicySystem, PolicyName: sp.Name})
		if err != nil {
			return PolicyInfo{}, rayfleet.PolicyVersion{}, fmt.Errorf("count attachments: %w", err)
		}
		return systemInfo(sp, len(as)), rayfleet.PolicyVersion{PolicyName: sp.Name, VersionID: sp.DefaultVersion, Document: string(sp.Document.JSON())}, nil
	}
	pol, err := s.Store.GetPolicy(ctx, p.AccountID, name)
	if rayfleet.IsNotFound(err) {
		return PolicyInfo{}, rayfleet.PolicyVersion{}, rayfleet.Errorf(ERAMNoPolicy, "The policy %s does not exist.", name)
	}
	if err != nil {
		return PolicyInfo{}, rayfleet.PolicyVersion{}, fmt.Errorf("get policy: %w", err)
	}
	vs, err := s.Store.ListPolicyVersions(ctx, p.AccountID, name)
	if err != nil && !rayfleet.IsNotFound(err) {
		return PolicyInfo{}, rayfleet.PolicyVersion{}, fmt.Errorf("get policy versions: %w", err)
	}
	var def rayfleet.PolicyVersion
	for _, v := range vs {
		if v.VersionID == pol.DefaultVersion {
			def = v
		}
	}
	return PolicyInfo{Policy: pol, Type: rayfleet.PolicyCustom}, def, nil
}

// GetPolicy returns a policy with the document of its default version.
func (s *Service) GetPolicy(ctx context.Context, p rayfleet.Principal, name, typ string) (PolicyInfo, rayfleet.PolicyVersion, error) {
	if err := s.authorizeRAM(ctx, p, "GetPolicy", ramResource(p, "policy", name)); err != nil {
		return PolicyInfo{}, rayfleet.PolicyVersion{}, err
	}
	if name == "" {
		return PolicyInfo{}, rayfleet.PolicyVersion{}, rayfleet.Errorf(rayfleet.EMISSING, "PolicyName is required")
	}
	if err := checkPolicyType(typ); err != nil {
		return PolicyInfo{}, rayfleet.PolicyVersion{}, err
	}
	return s.policy(ctx, p, name, typ)
}

// ListPolicies lists the system policies, then the account's custom ones;
// typ ("System" or "Custom") keeps one kind.
func (s *Service) ListPolicies(ctx context.Context, p rayfleet.Principal, typ string, pg Page) ([]PolicyInfo, string, error) {
	if err := s.authorizeRAM(ctx, p, "ListPolicies", ramResource(p, "policy", "*")); err != nil {
		return nil, "", err
	}
	if typ != "" {
		if err := checkPolicyType(typ); err != nil {
			return nil, "", err
		}
	}
	var out []PolicyInfo
	if typ != rayfleet.PolicyCustom {
		as, err := s.Store.ListAttachments(ctx, store.AttachmentFilter{AccountID: p.AccountID, PolicyType: rayfleet.PolicySystem})
		if err != nil {
			return nil, "", fmt.Errorf("count attachments: %w", err)
		}
		n := map[string]int{}
		for _, a := range as {
			n[a.PolicyName]++
		}
		for _, sp := range authz.SystemPolicies() {
			out = append(out, systemInfo(sp, n[sp.Name]))
		}
	}
	if typ != rayfleet.PolicySystem {
		pols, err := s.Store.ListPolicies(ctx, p.AccountID)
		if err != nil {
			return nil, "", fmt.Errorf("list policies: %w", err)
		}
		for _, pol := range pols {
			out = append(out, PolicyInfo{Policy: pol, Type: rayfleet.PolicyCustom})
		}
	}
	from, to, next, err := pg.cut(len(out))
	if err != nil {
		return nil, "", err
	}
	return out[from:to], next, nil
}

// DeletePolicy removes a custom policy attached to no user.
func (s *Service) DeletePolicy(ctx context.Context, p rayfleet.Principal, name string) error {
	if err := s.authorizeRAM(ctx, p, "DeletePolicy", ramResource(p, "policy", name)); err != nil {
		return err
	}
	if name == "" {
		return rayfleet.Errorf(rayfleet.EMISSING, "PolicyName is required")
	}
	err := s.Store.DeletePolicy(ctx, p.AccountID, name)
	switch {
	case rayfleet.IsNotFound(err):
		return rayfleet.Errorf(ERAMNoPolicy, "The policy %s does not exist.", name)
	case rayfleet.ErrorCode(err) == rayfleet.EDENIED:
		return rayfleet.Errorf(ERAMPolicyAttached, "The policy %s is attached to users; detach it first.", name)
	case err != nil:
		return fmt.Errorf("delete policy: %w", err)
	}
	s.policies.clear()
	return nil
}

// Rotation strategies of CreatePolicyVersion.
const (
	RotateNone   = "None"
	RotateOldest = "DeleteOldestNonDefaultVersionWhenLimitExceeded"
)

// CreatePolicyVersion adds a version to a custom policy, made the default
// when setDefault; it takes effect for every user holding the policy from
// the next request on.
func (s *Service) CreatePolicyVersion(ctx context.Context, p rayfleet.Principal, name, document string, setDefault bool, rotate string) (rayfleet.PolicyVersion, error) {
	if err := s.authorizeRAM(ctx, p, "CreatePolicyVersion", ramResource(p, "policy", name)); err != nil {
		return rayfleet.PolicyVersion{}, err
	}
	if name == "" {
		return rayfleet.PolicyVersion{}, rayfleet.Errorf(rayfleet.EMISSING, "PolicyName is required")
	}
	switch rotate {
	case "", RotateNone, RotateOldest:
	default:
		return rayfleet.PolicyVersion{}, rayfleet.Errorf(rayfleet.EINVALID, "RotateStrategy must be %s or %s, got %q", RotateNone, RotateOldest, rotate)
	}
	if err := parseDocument(document); err != nil {
		return rayfleet.PolicyVersion{}, err
	}
	v, err := s.Store.CreatePolicyVersion(ctx, p.AccountID, name, document, setDefault, rotate == RotateOldest, s.now())
	switch {
	case rayfleet.IsNotFound(err):
		return v, rayfleet.Errorf(ERAMNoPolicy, "The policy %s does not exist.", name)
	case rayfleet.ErrorCode(err) == rayfleet.EDENIED:
		return v, rayfleet.Errorf(ERAMVersionLimit, "The policy %s already has %d versions; delete one or pass RotateStrategy=%s.", name, rayfleet.MaxPolicyVersions, RotateOldest)
	case err != nil:
		return v, fmt.Errorf("create policy version: %w", err)
	}
	s.policies.clear()
	if setDefault {
		// Every holder's data-plane credentials are checked again under
		// the new version.
		// The version is in force already: a failure here leaves the
		// gateways' own periodic checks to notice, within their cache TTL.
		as, err := s.Store.ListAttachments(ctx, store.AttachmentFilter{AccountID: p.AccountID, PolicyType: rayfleet.PolicyCustom, PolicyName: name})
		if err != nil && s.Logger != nil {
			s.Logger.WarnContext(ctx, "list the users of a changed policy; their data-plane credentials are checked again within the gateway's cache TTL", "policy", name, "err", err.Error())
		}
		for _, a := range as {
			s.revokeUser(p.AccountID, a.UserUID)
		}
	}
	return v, nil
}

// attachment checks an attach or detach call's parameters and finds its user.
func (s *Service) attachment(ctx context.Context, p rayfleet.Principal, typ, name, userName string) (rayfleet.PolicyAttachment, error) {
	if err := checkPolicyType(typ); err != nil {
		return rayfleet.PolicyAttachment{}, err
	}
	if name == "" {
		return rayfleet.PolicyAttachment{}, rayfleet.Errorf(rayfleet.EMISSING, "PolicyName is required")
	}
	if err := checkUserName("UserName", userName); err != nil {
		return rayfleet.PolicyAttachment{}, err
	}
	if typ == rayfleet.PolicySystem {
		sp, ok := authz.SystemPolicy(name)
		if !ok {
			return rayfleet.PolicyAttachment{}, rayfleet.Errorf(ERAMNoPolicy, "The system policy %s does not exist.", name)
		}
		name = sp.Name
	}
	u, err := s.userByName(ctx, p, userName)
	if err != nil {
		return rayfleet.PolicyAttachment{}, err
	}
	return rayfleet.PolicyAttachment{AccountID: p.AccountID, UserUID: u.UID, PolicyType: typ, PolicyName: name}, nil
}

// AttachPolicyToUser attaches a policy to a user; it applies from the next
// request on.
func (s *Service) AttachPolicyToUser(ctx context.Context, p rayfleet.Principal, typ, name, userName string) error {
	if err := s.authorizeRAM(ctx, p, "AttachPolicyToUser", ramResource(p, "user", userName)); err != nil {
		return err
	}
	a, err := s.attachment(ctx, p, typ, name, userName)
	if err != nil {
		return err
	}
	a.AttachTime = s.now()
	err = s.Store.AttachPolicy(ctx, a)
	switch {
	case rayfleet.IsNotFound(err):
		// The user was just found, so what is missing is the policy (or the
		// user went meanwhile, which the same code would not explain).
		if _, uerr := s.userByName(ctx, p, userName); uerr != nil {
			return uerr
		}
		return rayfleet.Errorf(ERAMNoPolicy, "The policy %s does not exist.", name)
	case rayfleet.ErrorCode(err) == rayfleet.EDENIED:
		return rayfleet.Errorf(ERAMAttached, "The policy %s is already attached to user %s.", name, userName)
	case err != nil:
		return fmt.Errorf("attach policy: %w", err)
	}
	s.policies.clear()
	// The policy may deny what the user's data-plane credentials do.
	s.revokeUser(p.AccountID, a.UserUID)
	return nil
}

// DetachPolicyFromUser detaches a policy from a user; it stops applying from
// the next request on.
func (s *Service) DetachPolicyFromUser(ctx context.Context, p rayfleet.Principal, typ, name, userName string) error {
	if err := s.authorizeRAM(ctx, p, "DetachPolicyFromUser", ramResource(p, "user", userName)); err != nil {
		return err
	}
	a, err := s.attachment(ctx, p, typ, name, userName)
	if err != nil {
		return err
	}
	err = s.Store.DetachPolicy(ctx, p.AccountID, a.UserUID, a.PolicyType, a.PolicyName)
	if rayfleet.IsNotFound(err) {
		return rayfleet.Errorf(ERAMNotAttached, "The policy %s is not attached to user %s.", name, userName)
	}
	if err != nil {
		return fmt.Errorf("detach policy: %w", err)
	}
	s.policies.clear()
	s.revokeUser(p.AccountID, a.UserUID)
	return nil
}

// ListPoliciesForUser lists the policies attached to a user.
func (s *Service) ListPoliciesForUser(ctx context.Context, p rayfleet.Principal, userName string) ([]rayfleet.PolicyAttachment, error) {
	if err := s.authorizeRAM(ctx, p, "ListPoliciesForUser", ramResource(p, "user", userName)); err != nil {
		return nil, err
	}
	if err := checkUserName("UserName", userName); err != nil {
		return nil, err
	}
	u, err := s.userByName(ctx, p, userName)
	if err != nil {
		return nil, err
	}
	as, err := s.Store.ListAttachments(ctx, store.AttachmentFilter{AccountID: p.AccountID, UserUID: u.UID})
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	for i := range as {
		if as[i].PolicyType == rayfleet.PolicySystem {
			if sp, ok := authz.SystemPolicy(as[i].PolicyName); ok {
				as[i].Description, as[i].DefaultVersion = sp.Description, sp.DefaultVersion
			}
		}
	}
	return as, nil
}
