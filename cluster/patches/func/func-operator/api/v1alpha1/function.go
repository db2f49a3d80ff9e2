// Package v1alpha1 stands in for github.com/functions-dev/func-operator/api/v1alpha1 (v0.2.1), which the Go module
// proxy here refuses. It declares only what knative.dev/func knative-v1.23.1 uses, in pkg/operator/sync.go: the
// Function resource's types, GroupVersion and AddToScheme. func syncs a Function CR only when the cluster serves
// the operator's API group (discovery), so on a cluster without func-operator, like ours, none of this is sent.
// Written for this repo from func's use of it, not copied from upstream.
package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the operator's API group and version.
var GroupVersion = schema.GroupVersion{Group: "functions.dev", Version: "v1alpha1"}

var schemeBuilder = runtime.NewSchemeBuilder(func(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Function{}, &FunctionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
})

// AddToScheme registers Function and FunctionList.
var AddToScheme = schemeBuilder.AddToScheme

// FunctionSpecRepository is the Git repository a Function is built from.
type FunctionSpecRepository struct {
	URL           string                       `json:"url"`
	Branch        string                       `json:"branch,omitempty"`
	Path          string                       `json:"path,omitempty"`
	AuthSecretRef *corev1.LocalObjectReference `json:"authSecretRef,omitempty"`
}

// FunctionSpecRegistry is the registry a Function's image is pushed to.
type FunctionSpecRegistry struct {
	AuthSecretRef *corev1.LocalObjectReference `json:"authSecretRef,omitempty"`
}

// FunctionSpec is a Function's desired state.
type FunctionSpec struct {
	Repository FunctionSpecRepository `json:"repository"`
	Registry   FunctionSpecRegistry   `json:"registry,omitempty"`
}

// FunctionStatus is a Function's observed state.
type FunctionStatus struct {
	Name string `json:"name,omitempty"`
}

// Function is the operator's custom resource.
type Function struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              FunctionSpec   `json:"spec,omitempty"`
	Status            FunctionStatus `json:"status,omitempty"`
}

// FunctionList is a list of Functions.
type FunctionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Function `json:"items"`
}

func copyRef(r *corev1.LocalObjectReference) *corev1.LocalObjectReference {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

// DeepCopyInto copies f into out.
func (f *Function) DeepCopyInto(out *Function) {
	*out = *f
	f.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Spec.Repository.AuthSecretRef = copyRef(f.Spec.Repository.AuthSecretRef)
	out.Spec.Registry.AuthSecretRef = copyRef(f.Spec.Registry.AuthSecretRef)
}

// DeepCopyObject implements runtime.Object.
func (f *Function) DeepCopyObject() runtime.Object {
	out := &Function{}
	f.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *FunctionList) DeepCopyObject() runtime.Object {
	out := &FunctionList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]Function, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
	return out
}
