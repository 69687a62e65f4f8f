package service

import (
	"context"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/authz"
	"github.com/rayfleet/rayfleet/internal/store"
)

// Error codes of RAM's admin API, as RAM returns them.
const (
	ERAMNoUser          = "EntityNotExist.User"
	ERAMUserExists      = "EntityAlreadyExists.User"
	ERAMUserHasKeys     = "DeleteConflict.User.AccessKey"
	ERAMUserHasPolicies = "DeleteConflict.User.Policy"
	ERAMNoKey           = "EntityNotExist.User.AccessKey"
	ERAMKeyLimit        = "LimitExceeded.User.AccessKey"
	ERAMNoPolicy        = "EntityNotExist.Policy"
	ERAMPolicyExists    = "EntityAlreadyExists.Policy"
	ERAMPolicyAttached  = "DeleteConflict.Policy.User"
	ERAMVersionLimit    = "LimitExceeded.Policy.Version"
	ERAMAttached        = "EntityAlreadyExists.User.Policy"
	ERAMNotAttached     = "EntityNotExist.User.Policy"
	ERAMMalformedPolicy = "MalformedPolicyDocument"
)

// MaxAccessKeysPerUser is how many access keys a user may hold, as in RAM.
const MaxAccessKeysPerUser = 2

// ramResource names a RAM entity of the caller's account in policies:
// acs:ram:*:<account>:user/<name> or .../policy/<name>.
func ramResource(p rayfleet.Principal, kind, name string) string {
	return "acs:ram:*:" + p.AccountID + ":" + kind + "/" + name
}

// authorizeRAM lets the account's root user, or a user whose policies allow
// "ram:<operation>" on the entity, call an admin operation.
func (s *Service) authorizeRAM(ctx context.Context, p rayfleet.Principal, operation, resource string) error {
	return s.authorizeAction(ctx, p, "ram:"+operation, resource)
}

func checkUserName(field, name string) error {
	if name == "" {
		return rayfleet.Errorf(rayfleet.EMISSING, "%s is required", field)
	}
	if utf8.RuneCountInString(name) > 64 {
		return rayfleet.Errorf(rayfleet.EINVALID, "%s must be 1 to 64 characters long", field)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' || r == '@') {
			return rayfleet.Errorf(rayfleet.EINVALID, "%s %q may contain only letters, digits, '.', '-', '_' and '@'", field, name)
		}
	}
	return nil
}

func checkLength(field, v string, most int) error {
	if utf8.RuneCountInString(v) > most {
		return rayfleet.Errorf(rayfleet.EINVALID, "%s must be at most %d characters long", field, most)
	}
	return nil
}

// userByName loads a user of the caller's account; a missing one (or one of
// another account) is EntityNotExist.User.
func (s *Service) userByName(ctx context.Context, p rayfleet.Principal, name string) (rayfleet.User, error) {
	u, err := s.Store.GetUserByName(ctx, p.AccountID, name)
	if rayfleet.IsNotFound(err) {
		return u, rayfleet.Errorf(ERAMNoUser, "The user %s does not exist.", name)
	}
	return u, err
}

// UserInput is CreateUser's parameters.
type UserInput struct {
	Name        string
	DisplayName string
	Comments    string
}

// CreateUser adds a RAM user to the caller's account.
func (s *Service) CreateUser(ctx context.Context, p rayfleet.Principal, in UserInput) (rayfleet.User, error) {
	if err := s.authorizeRAM(ctx, p, "CreateUser", ramResource(p, "user", in.Name)); err != nil {
		return rayfleet.User{}, err
	}
	if err := checkUserName("UserName", in.Name); err != nil {
		return rayfleet.User{}, err
	}
	if err := checkLength("DisplayName", in.DisplayName, 128); err != nil {
		return rayfleet.User{}, err
	}
	if err := checkLength("Comments", in.Comments, 128); err != nil {
		return rayfleet.User{}, err
	}
	if in.DisplayName == "" {
		in.DisplayName = in.Name
	}
	uid, err := s.newUserUID()
	if err != nil {
		return rayfleet.User{}, err
	}
	now := s.now()
	u := rayfleet.User{UID: uid, AccountID: p.AccountID, Name: in.Name, Nickname: in.DisplayName, Comments: in.Comments, CreateTime: now, UpdateTime: now}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		if rayfleet.ErrorCode(err) == rayfleet.EDENIED {
			return rayfleet.User{}, rayfleet.Errorf(ERAMUserExists, "The user %s already exists.", in.Name)
		}
		return rayfleet.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// GetUser returns a user of the caller's account.
func (s *Service) GetUser(ctx context.Context, p rayfleet.Principal, name string) (rayfleet.User, error) {
	if err := s.authorizeRAM(ctx, p, "GetUser", ramResource(p, "user", name)); err != nil {
		return rayfleet.User{}, err
	}
	if err := checkUserName("UserName", name); err != nil {
		return rayfleet.User{}, err
	}
	return s.userByName(ctx, p, name)
}

// Page is a RAM list's paging: Marker is where the page starts (from a
// previous page's NextMarker), MaxItems its size (1 to 1000, default 100).
type Page struct {
	Marker   string
	MaxItems int
}

// cut returns the part of n items the page shows and the marker of the
// next page ("" when this is the last).
func (pg Page) cut(n int) (from, to int, next string, err error) {
	size := pg.MaxItems
	if size == 0 {
		size = 100
	}
	if size < 1 || size > 1000 {
		return 0, 0, "", rayfleet.Errorf(rayfleet.EINVALID, "MaxItems must be between 1 and 1000, got %d", pg.MaxItems)
	}
	if pg.Marker != "" {
		v, err := strconv.Atoi(pg.Marker)
		if err != nil || v < 0 {
			return 0, 0, "", rayfleet.Errorf(rayfleet.EINVALID, "Marker %q is not one this API returned", pg.Marker)
		}
		from = v
	}
	from = min(from, n)
	to = min(from+size, n)
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next, nil
}

// ListUsers lists the caller's account's users, oldest first.
func (s *Service) ListUsers(ctx context.Context, p rayfleet.Principal, pg Page) ([]rayfleet.User, string, error) {
	if err := s.authorizeRAM(ctx, p, "ListUsers", ramResource(p, "user", "*")); err != nil {
		return nil, "", err
	}
	us, err := s.Store.ListUsers(ctx, p.AccountID)
	if err != nil {
		return nil, "", err
	}
	from, to, next, err := pg.cut(len(us))
	if err != nil {
		return nil, "", err
	}
	return us[from:to], next, nil
}

// UpdateUserInput is UpdateUser's parameters; nil leaves a field as it is.
type UpdateUserInput struct {
	Name           string
	NewName        *string
	NewDisplayName *string
	NewComments    *string
}

// UpdateUser renames a user or changes its display name or comments.
func (s *Service) UpdateUser(ctx context.Context, p rayfleet.Principal, in UpdateUserInput) (rayfleet.User, error) {
	if err := s.authorizeRAM(ctx, p, "UpdateUser", ramResource(p, "user", in.Name)); err != nil {
		return rayfleet.User{}, err
	}
	if err := checkUserName("UserName", in.Name); err != nil {
		return rayfleet.User{}, err
	}
	if in.NewName != nil {
		if err := checkUserName("NewUserName", *in.NewName); err != nil {
			return rayfleet.User{}, err
		}
	}
	if in.NewDisplayName != nil {
		if err := checkLength("NewDisplayName", *in.NewDisplayName, 128); err != nil {
			return rayfleet.User{}, err
		}
	}
	if in.NewComments != nil {
		if err := checkLength("NewComments", *in.NewComments, 128); err != nil {
			return rayfleet.User{}, err
		}
	}
	u, err := s.userByName(ctx, p, in.Name)
	if err != nil {
		return rayfleet.User{}, err
	}
	now := s.now()
	u, err = s.Store.UpdateUser(ctx, p.AccountID, u.UID, func(u *rayfleet.User) error {
		if in.NewName != nil {
			u.Name = *in.NewName
		}
		if in.NewDisplayName != nil && *in.NewDisplayName != "" {
			u.Nickname = *in.NewDisplayName
		}
		if in.NewComments != nil {
			u.Comments = *in.NewComments
		}
		u.UpdateTime = now
		return nil
	})
	switch {
	case rayfleet.IsNotFound(err):
		return rayfleet.User{}, rayfleet.Errorf(ERAMNoUser, "The user %s does not exist.", in.Name)
	case rayfleet.ErrorCode(err) == rayfleet.EDENIED:
		return rayfleet.User{}, rayfleet.Errorf(ERAMUserExists, "The user %s already exists.", *in.NewName)
	case err != nil:
		return rayfleet.User{}, fmt.Errorf("update user: %w", err)
	}
	// The user's name and nickname are in cached principals.
	s.auths.clear()
	return u, nil
}

// DeleteUser removes a RAM user that holds no access key and no policy.
// The root user stays.
func (s *Service) DeleteUser(ctx context.Context, p rayfleet.Principal, name string) error {
	if err := s.authorizeRAM(ctx, p, "DeleteUser", ramResource(p, "user", name)); err != nil {
		return err
	}
	if err := checkUserName("UserName", name); err != nil {
		return err
	}
	u, err := s.userByName(ctx, p, name)
	if err != nil {
		return err
	}
	if u.Root {
		return rayfleet.Errorf(rayfleet.EDENIED, "The account's root user %s cannot be deleted.", name)
	}
	keys, err := s.Store.ListAccessKeys(ctx, p.AccountID, u.UID)
	if err != nil {
		return fmt.Errorf("list access keys: %w", err)
	}
	if len(keys) > 0 {
		return rayfleet.Errorf(ERAMUserHasKeys, "The user %s still has %d access keys; delete them first.", name, len(keys))
	}
	as, err := s.Store.ListAttachments(ctx, store.AttachmentFilter{AccountID: p.AccountID, UserUID: u.UID})
	if err != nil {
		return fmt.Errorf("list policies: %w", err)
	}
	if len(as) > 0 {
		return rayfleet.Errorf(ERAMUserHasPolicies, "The user %s still has %d policies attached; detach them first.", name, len(as))
	}
	err = s.Store.DeleteUser(ctx, p.AccountID, u.UID)
	switch {
	case rayfleet.IsNotFound(err):
		return rayfleet.Errorf(ERAMNoUser, "The user %s does not exist.", name)
	case rayfleet.ErrorCode(err) == rayfleet.EDENIED:
		// A key or policy was added since the checks above.
		return rayfleet.Errorf(ERAMUserHasKeys, "The user %s still has access keys or policies; remove them first.", name)
	case err != nil:
		return fmt.Errorf("delete user: %w", err)
	}
	s.policies.clear()
	return nil
}

// keyOwner is the user an access key operation acts on: the named user, or
// the caller when no name is given (as RAM does).
func (s *Service) keyOwner(ctx context.Context, p rayfleet.Principal, name string) (rayfleet.User, error) {
	if name == "" {
		u, err := s.Store.GetUser(ctx, p.AccountID, p.UserUID)
		if err != nil {
			return u, fmt.Errorf("load caller: %w", err)
		}
		return u, nil
	}
	if err := checkUserName("UserName", name); err != nil {
		return rayfleet.User{}, err
	}
	return s.userByName(ctx, p, name)
}

// userResource is the RAM resource of a key operation's user.
func userResource(p rayfleet.Principal, name string) string {
	if name == "" {
		name = p.UserName
	}
	return ramResource(p, "user", name)
}

// CreateAccessKey makes a new access key for a user (the caller when
// userName is empty) and returns it with its secret, which is shown only
// here.
func (s *Service) CreateAccessKey(ctx context.Context, p rayfleet.Principal, userName string) (rayfleet.AccessKey, string, error) {
	if err := s.authorizeRAM(ctx, p, "CreateAccessKey", userResource(p, userName)); err != nil {
		return rayfleet.AccessKey{}, "", err
	}
	u, err := s.keyOwner(ctx, p, userName)
	if err != nil {
		return rayfleet.AccessKey{}, "", err
	}
	unlock, err := s.lock(ctx, "user/"+p.AccountID+"/"+u.UID)
	if err != nil {
		return rayfleet.AccessKey{}, "", err
	}
	defer unlock()
	keys, err := s.Store.ListAccessKeys(ctx, p.AccountID, u.UID)
	if err != nil {
		return rayfleet.AccessKey{}, "", fmt.Errorf("list access keys: %w", err)
	}
	if len(keys) >= MaxAccessKeysPerUser {
		return rayfleet.AccessKey{}, "", rayfleet.Errorf(ERAMKeyLimit, "The user %s already has %d access keys, the most a user may have.", u.Name, len(keys))
	}
	id, secret, err := s.newAccessKey()
	if err != nil {
		return rayfleet.AccessKey{}, "", err
	}
	sealed, err := s.Sealer.Seal([]byte(secret))
	if err != nil {
		return rayfleet.AccessKey{}, "", err
	}
	k := rayfleet.AccessKey{ID: id, AccountID: p.AccountID, UserUID: u.UID, SecretSealed: sealed, Status: rayfleet.KeyActive, CreateTime: s.now()}
	if err := s.Store.CreateAccessKey(ctx, k); err != nil {
		return rayfleet.AccessKey{}, "", fmt.Errorf("create access key: %w", err)
	}
	return k, secret, nil
}

// ListAccessKeys lists a user's keys (the caller's when userName is empty).
func (s *Service) ListAccessKeys(ctx context.Context, p rayfleet.Principal, userName string) ([]rayfleet.AccessKey, error) {
	if err := s.authorizeRAM(ctx, p, "ListAccessKeys", userResource(p, userName)); err != nil {
		return nil, err
	}
	u, err := s.keyOwner(ctx, p, userName)
	if err != nil {
		return nil, err
	}
	keys, err := s.Store.ListAccessKeys(ctx, p.AccountID, u.UID)
	if err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	return keys, nil
}

// UpdateAccessKey enables or disables a key. A disabled key is refused from
// the next request on: this server forgets what it remembered of it.
func (s *Service) UpdateAccessKey(ctx context.Context, p rayfleet.Principal, userName, keyID, status string) error {
	if err := s.authorizeRAM(ctx, p, "UpdateAccessKey", userResource(p, userName)); err != nil {
		return err
	}
	if keyID == "" {
		return rayfleet.Errorf(rayfleet.EMISSING, "UserAccessKeyId is required")
	}
	if status != rayfleet.KeyActive && status != rayfleet.KeyInactive {
		return rayfleet.Errorf(rayfleet.EINVALID, "Status must be Active or Inactive, got %q", status)
	}
	u, err := s.keyOwner(ctx, p, userName)
	if err != nil {
		return err
	}
	err = s.Store.SetAccessKeyStatus(ctx, p.AccountID, u.UID, keyID, status)
	if rayfleet.IsNotFound(err) {
		return rayfleet.Errorf(ERAMNoKey, "The access key %s of user %s does not exist.", keyID, u.Name)
	}
	if err != nil {
		return fmt.Errorf("update access key: %w", err)
	}
	s.auths.forget(keyID)
	return nil
}

// DeleteAccessKey removes a key; it is refused from the next request on.
func (s *Service) DeleteAccessKey(ctx context.Context, p rayfleet.Principal, userName, keyID string) error {
	if err := s.authorizeRAM(ctx, p, "DeleteAccessKey", userResource(p, userName)); err != nil {
		return err
	}
	if keyID == "" {
		return rayfleet.Errorf(rayfleet.EMISSING, "UserAccessKeyId is required")
	}
	u, err := s.keyOwner(ctx, p, userName)
	if err != nil {
		return err
	}
	err = s.Store.DeleteAccessKey(ctx, p.AccountID, u.UID, keyID)
	if rayfleet.IsNotFound(err) {
		return rayfleet.Errorf(ERAMNoKey, "The access key %s of user %s does not exist.", keyID, u.Name)
	}
	if err != nil {
		return fmt.Errorf("delete access key: %w", err)
	}
	s.auths.forget(keyID)
	return nil
}

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

// forget drops what the cache remembers of one key.
func (c *authCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
	c.gen++
}

// clear forgets every key.
func (c *authCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
	c.gen++
}
